import Foundation
import NIOCore
import NIOPosix
import NIOSSL
#if canImport(Glibc)
import Glibc
#endif

/// Attack clients for the transport-limit tests: raw TCP connections from chosen loopback source addresses
/// (127.0.0.0/8 is all loopback on Linux, so each address is a distinct "client" to the coordinator).
enum Slowloris {
    /// Opens a TCP connection from `source` to 127.0.0.1:`port` and sends the first `prefix` bytes of a TLS
    /// handshake record (a ClientHello that never completes). Returns the descriptor, or -1 when refused.
    static func open(source: String, port: Int, prefix: [UInt8] = [0x16, 0x03, 0x01]) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return -1 }
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_addr.s_addr = inet_addr(source)
        var remote = sockaddr_in()
        remote.sin_family = sa_family_t(AF_INET)
        remote.sin_port = UInt16(port).bigEndian
        remote.sin_addr.s_addr = inet_addr("127.0.0.1")
        let size = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafePointer(to: &local) { l in
            withUnsafePointer(to: &remote) { r in
                l.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, size) } == 0
                    && r.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, size) } == 0
            }
        }
        guard ok else {
            close(fd)
            return -1
        }
        _ = prefix.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        return fd
    }

    /// Sends one more byte (the drip that keeps a slowloris alive at the TCP level).
    static func drip(_ fd: Int32) {
        var byte: UInt8 = 0x02
        _ = send(fd, &byte, 1, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
    }

    /// Whether the server closed the connection (EOF or reset), without blocking.
    static func closedByServer(_ fd: Int32) -> Bool {
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        if n == 0 { return true }
        if n < 0 { return errno != EAGAIN && errno != EWOULDBLOCK }
        return false
    }
}

/// A TLS client that sends a request head announcing `contentLength` bytes and then drips the body, one byte per
/// `interval`: the slow-body attack. `closed` tells whether the server cut the connection.
final class SlowBodyClient: Sendable {
    let channel: any Channel

    private init(channel: any Channel) { self.channel = channel }

    static func connect(port: Int, caPEM: [UInt8], path: String, contentLength: Int) async throws -> SlowBodyClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(caPEM))
        let context = try NIOSSLContext(configuration: tls)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        try NIOSSLClientHandler(context: context, serverHostname: "localhost"))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        let head =
            "POST \(path) HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(contentLength)\r\n\r\n"
        try await channel.writeAndFlush(ByteBuffer(string: head)).get()
        return SlowBodyClient(channel: channel)
    }

    /// Sends `bytes` body bytes.
    func send(_ bytes: Int) async {
        try? await channel.writeAndFlush(ByteBuffer(repeating: 0x20, count: bytes)).get()
    }

    var closed: Bool { !channel.isActive }

    func close() async { try? await channel.close().get() }
}
