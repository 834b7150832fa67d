import Foundation
import StorePostgres
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A loopback TCP proxy in front of the test server that can stop passing the server's answers on and then cut every
/// connection: what usero sees when the network fails after a statement went out and before its answer came back.
/// Plain blocking sockets, two threads a connection (a test opens a handful).
///
/// Armed with a marker, the first connection on which usero sends bytes holding it gets no more answers: the
/// statement carrying it still reaches the server and runs there, and its answer is thrown away.
final class AnswerDroppingProxy: @unchecked Sendable {
    /// The port usero connects to.
    let port: Int
    private let upstreamPort: Int
    private let listener: Int32
    private let lock = NSLock()
    /// Armed: the bytes that make a connection's answers stop.
    private var marker: [UInt8]?
    private var refusesConnections = false
    private var open: [Int32] = []
    private var stopped = false

    init(upstreamPort: Int) throws {
        self.upstreamPort = upstreamPort
        (listener, port) = try boundLoopbackSocket()
        guard listen(listener, 16) == 0 else {
            close(listener)
            throw POSIXError(.EADDRINUSE)
        }
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    /// Arms the proxy: the first connection to send bytes holding `marker` (a statement's text, or a value bound to
    /// it) gets no answer from then on.
    func dropAnswers(afterClientSends marker: String) { lock.withLock { self.marker = Array(marker.utf8) } }

    /// Closes every connection made so far (usero sees its server hang up) and passes answers on again; with
    /// `refusingNew`, new connections are closed at once, as if the server were down.
    func cutAll(refusingNew: Bool = false) {
        // Under the lock: a pump closes its sockets only after taking them out of `open`, under it too.
        lock.withLock {
            marker = nil
            refusesConnections = refusingNew
            for socket in open { shutdown(socket, Int32(SHUT_RDWR)) }
        }
    }

    func stop() {
        lock.withLock { stopped = true }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        cutAll()
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else {
                if lock.withLock({ stopped }) { return }
                continue
            }
            if lock.withLock({ refusesConnections }) {
                close(client)
                continue
            }
            guard let server = connectUpstream() else {
                close(client)
                continue
            }
            // As usero and PostgreSQL do: without it each small message waits for the last one's ACK (40 ms here).
            var on: Int32 = 1
            for socket in [client, server] {
                setsockopt(socket, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
            }
            lock.withLock { open += [client, server] }
            let link = Link()
            Thread.detachNewThread { [self] in pump(from: client, to: server, isAnswer: false, link: link) }
            Thread.detachNewThread { [self] in pump(from: server, to: client, isAnswer: true, link: link) }
        }
    }

    private func connectUpstream() -> Int32? {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(upstreamPort).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(descriptor)
            return nil
        }
        return descriptor
    }

    /// One connection's state, under the proxy's lock: whether its answers are dropped, how many of its two pumps
    /// have ended.
    private final class Link: @unchecked Sendable {
        var dropsAnswers = false
        var ended = 0
    }

    /// Copies one direction until either side closes, then shuts both down (the other pump then ends too); the
    /// second to end closes them.
    private func pump(from source: Int32, to destination: Int32, isAnswer: Bool, link: Link) {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        copying: while true {
            let count = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            let dropped = lock.withLock {
                if isAnswer { return link.dropsAnswers }
                if let marker, buffer[..<count].firstRange(of: marker) != nil {
                    self.marker = nil
                    link.dropsAnswers = true
                }
                return false
            }
            if dropped { continue }
            var sent = 0
            while sent < count {
                let written = buffer.withUnsafeBytes { send(destination, $0.baseAddress! + sent, count - sent, 0) }
                if written <= 0 { break copying }
                sent += written
            }
        }
        shutdown(source, Int32(SHUT_RDWR))
        shutdown(destination, Int32(SHUT_RDWR))
        let last = lock.withLock {
            link.ended += 1
            return link.ended == 2
        }
        if last {
            lock.withLock { open.removeAll { $0 == source || $0 == destination } }
            close(source)
            close(destination)
        }
    }
}

extension AnswerDroppingProxy {
    /// Runs `body` with `settings` rewritten to reach the same database through a new proxy, stopped afterwards; nil
    /// (and an issue recorded) when the test server is not reached over TCP.
    static func withProxy<T>(
        to settings: PostgresSettings, _ body: (_ proxied: PostgresSettings, _ proxy: AnswerDroppingProxy) async throws -> T
    ) async throws -> T? {
        guard case .tcp(_, let port) = settings.endpoint else {
            Issue.record("the test server is reached over TCP (scripts/pg-cluster.sh)")
            return nil
        }
        let proxy = try AnswerDroppingProxy(upstreamPort: port)
        defer { proxy.stop() }
        var proxied = settings
        proxied.endpoint = .tcp(host: "127.0.0.1", port: proxy.port)
        return try await body(proxied, proxy)
    }
}
