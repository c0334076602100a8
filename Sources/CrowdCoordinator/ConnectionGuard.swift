import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOHTTPTypes
import NIOSSL
import Synchronization

/// Open connections per client address, shared by every connection of one server.
public final class ConnectionRegistry: Sendable {
    let maxPerIP: Int
    let exemptLoopback: Bool
    private let open = Mutex<[String: Int]>([:])

    public init(maxPerIP: Int, exemptLoopback: Bool) {
        self.maxPerIP = maxPerIP
        self.exemptLoopback = exemptLoopback
    }

    /// Registers a connection from `ip`; false (and nothing registered) when that address is at its cap.
    func opened(_ ip: String) -> Bool {
        if exemptLoopback && RequestLimiter.isLoopback(ip) { return true }
        return open.withLock { t in
            let n = t[ip, default: 0]
            guard n < maxPerIP else { return false }
            t[ip] = n + 1
            return true
        }
    }

    func closed(_ ip: String) {
        if exemptLoopback && RequestLimiter.isLoopback(ip) { return }
        open.withLock { t in
            let n = t[ip, default: 0] - 1
            if n <= 0 { t.removeValue(forKey: ip) } else { t[ip] = n }
        }
    }

    /// Open connections in all (loopback excluded when exempt).
    public var openConnections: Int { open.withLock { $0.values.reduce(0, +) } }
}

/// First handler of every connection, before TLS: enforces the per-address connection cap.
final class ConnectionCapHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let registry: ConnectionRegistry
    let metrics: CoordinatorMetrics
    private var ip: String?
    private var checked = false

    init(registry: ConnectionRegistry, metrics: CoordinatorMetrics) {
        self.registry = registry
        self.metrics = metrics
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { check(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        check(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let ip { registry.closed(ip) }
        ip = nil
        context.fireChannelInactive()
    }

    private func check(_ context: ChannelHandlerContext) {
        guard !checked else { return }
        checked = true
        guard let address = context.channel.remoteAddress?.ipAddress else { return }
        if registry.opened(address) {
            ip = address
        } else {
            metrics.limited("connections_per_ip")
            context.close(promise: nil)
        }
    }
}

/// After the HTTP codec: cuts a request whose body arrives slower than `minBytesPerSecond` once `grace` seconds of
/// waiting have passed. Only time spent waiting *for the client* counts: the clock runs while a read is outstanding
/// (the server asked for more bytes) and stops while the server applies backpressure, so a busy coordinator never
/// cuts an honest upload.
final class BodyRateHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let grace: TimeAmount
    let minBytesPerSecond: Int
    let metrics: CoordinatorMetrics
    private var inBody = false
    private var bytes = 0
    private var waited: TimeAmount = .zero
    private var demandSince: NIODeadline?
    private var timer: RepeatedTask?

    init(grace: TimeAmount, minBytesPerSecond: Int, metrics: CoordinatorMetrics) {
        self.grace = grace
        self.minBytesPerSecond = minBytesPerSecond
        self.metrics = metrics
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let now = NIODeadline.now()
        if let since = demandSince {
            if inBody { waited = waited + (now - since) }
            demandSince = nil
        }
        switch unwrapInboundIn(data) {
        case .head:
            inBody = true
            bytes = 0
            waited = .zero
            startTimer(context)
        case .body(let buffer):
            bytes += buffer.readableBytes
        case .end:
            inBody = false
            stopTimer()
        }
        context.fireChannelRead(data)
    }

    func read(context: ChannelHandlerContext) {
        if demandSince == nil { demandSince = .now() }
        context.read()
    }

    func handlerRemoved(context: ChannelHandlerContext) { stopTimer() }

    func channelInactive(context: ChannelHandlerContext) {
        stopTimer()
        context.fireChannelInactive()
    }

    private func startTimer(_ context: ChannelHandlerContext) {
        guard minBytesPerSecond > 0, timer == nil else { return }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in
            let (handler, context) = loopBound.value
            handler.check(context)
        }
    }

    private func stopTimer() {
        timer?.cancel()
        timer = nil
    }

    private func check(_ context: ChannelHandlerContext) {
        guard inBody else { return stopTimer() }
        var total = waited
        if let since = demandSince { total = total + (NIODeadline.now() - since) }
        guard total > grace else { return }
        let seconds = Double(total.nanoseconds) / 1e9
        if Double(bytes) / seconds < Double(minBytesPerSecond) {
            metrics.limited("slow_body")
            stopTimer()
            context.close(promise: nil)
        }
    }
}

/// The coordinator's child channel: the connection cap first, then TLS and HTTP/1.1 with the idle (and header)
/// timeout and the body-rate handler. Built from `TransportLimits`.
public struct GuardedChannel<Base: ServerChildChannel>: ServerChildChannel {
    public typealias Value = Base.Value
    let base: Base
    let registry: ConnectionRegistry
    let metrics: CoordinatorMetrics

    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(ConnectionCapHandler(registry: registry, metrics: metrics))
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    public func handle(value: Base.Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTPS/1.1 with the coordinator's transport limits.
    static func guarded(
        tls: TLSConfiguration, limits: TransportLimits, registry: ConnectionRegistry, metrics: CoordinatorMetrics
    ) -> HTTPServerBuilder {
        .init { responder in
            var http = HTTP1Channel.Configuration(
                additionalChannelHandlers: [
                    BodyRateHandler(
                        grace: .nanoseconds(Int64(limits.bodyGraceSeconds * 1e9)),
                        minBytesPerSecond: limits.minBodyBytesPerSecond, metrics: metrics)
                ],
                idleTimeout: .nanoseconds(Int64(limits.idleTimeoutSeconds * 1e9)))
            http.httpDecoder = .init(maxHeaderFieldSize: 16 * 1024, maxHeaderListSize: 32 * 1024, maxHeaderFieldCount: 100)
            let inner = try TLSChannel(HTTP1Channel(responder: responder, configuration: http), tlsConfiguration: tls)
            return GuardedChannel(base: inner, registry: registry, metrics: metrics)
        }
    }
}
