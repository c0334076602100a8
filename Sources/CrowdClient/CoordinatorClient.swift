import AsyncHTTPClient
import CrowdCodec
import CrowdData
import CrowdProtocol
import Foundation
import NIOCore
import NIOSSL

/// HTTPS client of the coordinator API, shared by the peer daemon, the `status`/`stats` commands and the operator
/// commands (`CoordinatorClient+Operator.swift`).
///
/// It trusts exactly one CA — the campaign's `ca.pem` — and nothing from the system trust store,
/// so a volunteer talks to the coordinator the operator set up and to nobody else. Plain `http://`
/// URLs are refused before any byte is sent. Call `shutdown()` when done (AsyncHTTPClient requires it).
///
/// With `rates` it holds the daemon's bandwidth caps (the peer's `limits.uploadBytesPerSecond` and
/// `downloadBytesPerSecond`, read at every chunk): request bodies are streamed in chunks of about a tenth
/// of a second of traffic, each released by a token bucket; response bodies are read chunk by chunk and
/// the next chunk is asked for only when the bucket allows, so backpressure stops reading the socket and
/// TCP slows the sender.
public final class CoordinatorClient: Sendable {
    /// Base URL, `https://host:port`, without a trailing slash.
    public let baseURL: String
    /// Bearer secret for authenticated calls (a peer credential, or the operator token), nil for the public endpoints.
    public let secret: String?
    let http: HTTPClient
    let timeout: TimeAmount
    /// Paces request bodies (upload cap).
    let upload: BandwidthPacer
    /// Paces response bodies (download cap).
    let download: BandwidthPacer

    /// - Parameters:
    ///   - baseURL: `https://HOST:PORT` of the coordinator.
    ///   - caPEM: PEM bytes of the campaign CA (the only trust root).
    ///   - secret: the peer credential, if the calls need one.
    ///   - timeoutSeconds: per-request limit (models and shards included).
    ///   - connectTimeoutSeconds: limit for establishing a connection, TLS handshake included (AsyncHTTPClient
    ///     keeps retrying a refused connection until then).
    ///   - rates: the bandwidth caps, asked at every chunk (nil: no caps).
    public init(
        baseURL: String, caPEM: [UInt8], secret: String? = nil, timeoutSeconds: Int64 = 120,
        connectTimeoutSeconds: Int64 = 10, rates: BandwidthRates? = nil
    ) throws {
        var url = baseURL.trimmingCharacters(in: .whitespaces)
        while url.hasSuffix("/") { url.removeLast() }
        guard let parsed = URL(string: url), parsed.scheme?.lowercased() == "https", parsed.host != nil else {
            throw ClientSetupError(
                "coordinator URL '\(baseURL)' must be https://HOST:PORT (CrowdTrain never talks plaintext HTTP)")
        }
        let roots: [NIOSSLCertificate]
        do {
            roots = try NIOSSLCertificate.fromPEMBytes(caPEM)
        } catch {
            throw ClientSetupError("the CA file is not a PEM certificate (\(error)); pass the ca.pem the operator gave you")
        }
        guard !roots.isEmpty else { throw ClientSetupError("the CA file holds no certificate; pass the campaign's ca.pem") }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(roots)
        tls.minimumTLSVersion = .tlsv12
        var config = HTTPClient.Configuration(tlsConfiguration: tls)
        config.timeout = .init(connect: .seconds(connectTimeoutSeconds), read: .seconds(timeoutSeconds))
        config.redirectConfiguration = .disallow
        self.http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
        self.baseURL = url
        self.secret = secret
        self.timeout = .seconds(timeoutSeconds)
        self.upload = BandwidthPacer(rate: { rates?.upload() })
        self.download = BandwidthPacer(rate: { rates?.download() })
    }

    /// Convenience: reads the CA from a file.
    public convenience init(
        baseURL: String, caFile: String, secret: String? = nil, timeoutSeconds: Int64 = 120,
        rates: BandwidthRates? = nil
    ) throws {
        guard let pem = FileManager.default.contents(atPath: caFile) else {
            throw ClientSetupError("cannot read the CA certificate \(caFile); pass --ca with the campaign's ca.pem")
        }
        try self.init(baseURL: baseURL, caPEM: Array(pem), secret: secret, timeoutSeconds: timeoutSeconds, rates: rates)
    }

    /// Releases connections and threads. Must be called once before the client is dropped.
    public func shutdown() async {
        try? await http.shutdown()
    }

    // MARK: endpoints

    /// `GET /healthz`.
    public func health() async throws -> HealthStatus {
        try await json(.GET, APIPath.health, body: Optional<Int>.none, auth: false)
    }

    /// `POST /v1/join`: redeems an invite.
    public func join(invite: String, name: String) async throws -> JoinResponse {
        try await json(.POST, APIPath.join, body: JoinRequest(invite: invite, name: name), auth: false)
    }

    /// `POST /v1/lease`: asks for work.
    public func lease(_ request: LeaseRequest) async throws -> LeaseResponse {
        try await json(.POST, APIPath.lease, body: request, auth: true)
    }

    /// `GET /v1/models/{version}`: checkpoint bytes (not yet verified; `ArtifactCache.put` verifies).
    public func model(version: String, maxBytes: Int = 1 << 30) async throws -> Data {
        try await bytes(.GET, APIPath.model(version), body: nil, auth: true, maxBytes: maxBytes).data
    }

    /// `GET /v1/shards/{id}` as it travels: the zstd-compressed shard (`CompressedShard`), not yet inflated or
    /// verified. `expectedBytes` (the lease's `shardBytes`) bounds the body at zstd's worst case for that size.
    public func compressedShard(id: String, expectedBytes: Int? = nil) async throws -> Data {
        let fileBytes = min(expectedBytes ?? CompressedShard.maxFileBytes, CompressedShard.maxFileBytes)
        return try await bytes(
            .GET, APIPath.shard(id), body: nil, auth: true, maxBytes: CompressedShard.maxBodyBytes(fileBytes: fileBytes)
        ).data
    }

    /// `GET /v1/shards/{id}`: the shard file, inflated with a hard bound (exactly `expectedBytes` when given, else at
    /// most `CompressedShard.maxFileBytes`) and checked against `id`.
    /// - Throws: `CoordinatorClientError` for transport failures; `CodecError` for a body that is not one bounded
    ///   zstd frame (a decompression bomb, a corrupt frame); `ShardError` when the inflated file is not shard `id`.
    public func shard(id: String, expectedBytes: Int? = nil) async throws -> Data {
        let body = try await compressedShard(id: id, expectedBytes: expectedBytes)
        let file = try CompressedShard.decode(body, expectedBytes: expectedBytes)
        guard ContentDigest.hex(file) == id else {
            throw ShardError(
                shard: "\(id.prefix(12))…", .checksumMismatch,
                "the inflated shard does not hash to its id: corrupted in transit or a wrong shard; fetch it again")
        }
        return file
    }

    /// `PUT /v1/updates/{leaseID}`: uploads an update envelope; the same call retries safely.
    public func putUpdate(leaseID: String, envelope: Data, trainLoss: Float?) async throws -> Receipt {
        var headers: [(String, String)] = [("Content-Type", ProtocolHeaders.octetStream)]
        if let trainLoss, trainLoss.isFinite { headers.append((ProtocolHeaders.trainLoss, "\(trainLoss)")) }
        let (data, _) = try await bytes(
            .PUT, APIPath.update(leaseID), body: envelope, auth: true, maxBytes: 1 << 20, headers: headers)
        return try decode(Receipt.self, data, path: APIPath.update(leaseID))
    }

    /// `PUT /v1/updates/{leaseID}/proof`: the answer to the upload's challenge (a `TrajectoryProof`).
    public func putProof(leaseID: String, proof: Data) async throws -> ProofReceipt {
        let (data, _) = try await bytes(
            .PUT, APIPath.proof(leaseID), body: proof, auth: true, maxBytes: 1 << 16,
            headers: [("Content-Type", ProtocolHeaders.octetStream)])
        return try decode(ProofReceipt.self, data, path: APIPath.proof(leaseID))
    }

    /// `GET /v1/updates/{leaseID}`: what became of this peer's update (pending, credited, or no credit and why).
    public func outcome(leaseID: String) async throws -> UpdateOutcome {
        try await json(.GET, APIPath.update(leaseID), body: Optional<Int>.none, auth: true)
    }

    /// `POST /v1/outcomes`: the outcomes of several of this peer's updates in one request.
    public func outcomes(leaseIDs: [String]) async throws -> OutcomesResponse {
        try await json(.POST, APIPath.outcomes, body: OutcomesRequest(leaseIDs: leaseIDs), auth: true)
    }

    /// `GET /v1/status` (public).
    public func status() async throws -> CampaignStatus {
        try await json(.GET, APIPath.status, body: Optional<Int>.none, auth: false)
    }

    /// `GET /v1/stats?top=N` (public).
    public func stats(top: Int) async throws -> ContributorStats {
        try await json(.GET, APIPath.stats(top: top), body: Optional<Int>.none, auth: false)
    }

    // MARK: plumbing

    /// The HTTP methods the API uses.
    enum Verb: String {
        case GET, POST, PUT, PATCH
    }

    func json<Body: Encodable, Response: Decodable>(
        _ method: Verb, _ path: String, body: Body?, auth: Bool
    ) async throws -> Response {
        var payload: Data?
        if let body { payload = try JSONEncoder().encode(body) }
        let (data, _) = try await bytes(
            method, path, body: payload, auth: auth, maxBytes: 16 << 20,
            headers: payload == nil ? [] : [("Content-Type", ProtocolHeaders.json)])
        return try decode(Response.self, data, path: path)
    }

    func decode<T: Decodable>(_ type: T.Type, _ data: Data, path: String) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw CoordinatorClientError(
                status: 200, code: "bad_response",
                message: "\(path) answered something that is not a \(T.self): \(error). Is the coordinator the same version?")
        }
    }

    /// The request for `method path` with its headers, credential and (paced) body, and its deadline.
    func request(
        _ method: Verb, _ path: String, body: Data?, auth: Bool, headers: [(String, String)]
    ) throws -> (HTTPClientRequest, TimeAmount) {
        var request = HTTPClientRequest(url: baseURL + path)
        switch method {
        case .GET: request.method = .GET
        case .POST: request.method = .POST
        case .PUT: request.method = .PUT
        case .PATCH: request.method = .PATCH
        }
        request.headers.add(name: "User-Agent", value: "crowdtrain-peer")
        for (k, v) in headers { request.headers.add(name: k, value: v) }
        if auth {
            guard let secret else { throw ClientSetupError("\(path) needs a credential; run `crowdtrain peer join` first") }
            request.headers.add(name: "Authorization", value: "Bearer \(secret)")
        }
        // The deadline covers sending the body; under an upload cap it grows by the time the cap needs.
        var deadline = timeout
        if let body {
            if let rate = upload.rate(), rate > 0 {
                request.body = .stream(PacedBody(data: body, pacer: upload), length: .known(Int64(body.count)))
                deadline = deadline + .seconds(Int64(body.count / rate) + 1)
            } else {
                request.body = .bytes(ByteBuffer(bytes: body))
            }
        }
        return (request, deadline)
    }

    /// The `CoordinatorClientError` of a non-2xx answer (its JSON error body when it has one).
    static func failure(status: Int, retryAfterHeader: String?, data: Data) -> CoordinatorClientError {
        // At most an hour: a hostile or broken coordinator must not park the daemon for good.
        let retryAfter = retryAfterHeader.flatMap(Double.init).map { min(max($0, 0), 3600) }
        if let err = try? JSONDecoder().decode(APIErrorBody.self, from: data) {
            return CoordinatorClientError(
                status: status, code: err.error.code, message: err.error.message, retryAfter: retryAfter)
        }
        let text = String(decoding: data.prefix(200), as: UTF8.self)
        return CoordinatorClientError(status: status, code: "http_\(status)", message: text.isEmpty ? "no body" : text)
    }

    /// Sends one request; returns the body of a 2xx response, throws `CoordinatorClientError` otherwise.
    func bytes(
        _ method: Verb, _ path: String, body: Data?, auth: Bool, maxBytes: Int,
        headers: [(String, String)] = []
    ) async throws -> (data: Data, status: Int) {
        let (request, deadline) = try request(method, path, body: body, auth: auth, headers: headers)
        let response: HTTPClientResponse
        var buffer = ByteBuffer()
        do {
            response = try await http.execute(request, timeout: deadline)
            for try await chunk in response.body {
                guard buffer.readableBytes + chunk.readableBytes <= maxBytes else {
                    // As before (collect(upTo:)): a transport failure, retried later.
                    throw CoordinatorClientError(
                        status: nil, code: "transport",
                        message:
                            "\(method) \(path) answered more than \(maxBytes) bytes; is the coordinator the same version?")
                }
                let n = chunk.readableBytes
                var chunk = chunk
                buffer.writeBuffer(&chunk)
                // Asking for the next chunk only when the cap allows is the backpressure that slows the sender.
                try await download.acquire(n)
            }
        } catch let error as CoordinatorClientError {
            throw error
        } catch {
            throw CoordinatorClientError(
                status: nil, code: "transport", message: "\(method) \(baseURL)\(path) failed: \(Self.describe(error))")
        }
        let data = Data(buffer.readableBytesView)
        let status = Int(response.status.code)
        guard (200..<300).contains(status) else { throw Self.failure(status: status, retryAfterHeader: response.headers.first(name: "retry-after"), data: data) }
        return (data, status)
    }

    /// Readable text for NIO/TLS errors ("certificate verify failed" is what an untrusted server shows).
    static func describe(_ error: any Error) -> String {
        let text = String(describing: error)
        if text.contains("CERTIFICATE_VERIFY_FAILED") || text.contains("handshakeFailed") {
            return "TLS handshake failed (\(text)); is --ca the campaign's ca.pem and the URL the coordinator's?"
        }
        if text.contains("connectTimeout") || text.contains("connectionRefused") || text.contains("Connection refused") {
            return "cannot connect (\(text)); is the coordinator running at this address?"
        }
        return text
    }
}
