import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One TCP connection to a test server, byte by byte: for half-sent requests, slow clients and source addresses
/// other than 127.0.0.1 (any 127.x.y.z is loopback on Linux). Reads never block a thread: they poll and sleep.
final class RawConnection: @unchecked Sendable {
    private var fd: Int32
    private var received: [UInt8] = []
    private(set) var isClosedByPeer = false

    struct Failed: Error, CustomStringConvertible {
        var description: String
    }

    /// Connects to 127.0.0.1:`port`, from `source` when given (for example "127.0.0.2"), with a receive buffer of
    /// `receiveBuffer` bytes when given (a client that takes its answer slowly, or not at all, fills it at once).
    init(port: Int, from source: String? = nil, receiveBuffer: Int32? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failed(description: "socket: \(errno)") }
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        if let source {
            var local = Self.address(source, port: 0)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard bound == 0 else {
                Glibc.close(fd)
                throw Failed(description: "bind \(source): \(errno)")
            }
        }
        var remote = Self.address("127.0.0.1", port: port)
        let connected = withUnsafePointer(to: &remote) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            Glibc.close(fd)
            throw Failed(description: "connect: \(errno)")
        }
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    /// Closes our end now.
    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    private static func address(_ ip: String, port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr(ip)
        return address
    }

    /// Sends bytes; false when the peer has already closed the connection.
    @discardableResult
    func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            guard sent > 0 else { return false }
            offset += sent
        }
        return true
    }

    /// How many bytes have been read so far (by `waitForClose` or `response`), responses taken out included.
    var bytesRead: Int { received.count + taken }
    private var taken = 0

    /// Reads whatever has arrived without waiting; notes when the peer closed.
    private func drain() {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !isClosedByPeer {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if count > 0 {
                received += buffer[0..<count]
            } else if count == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                isClosedByPeer = true
            } else {
                return
            }
        }
    }

    /// Waits up to `timeout` for the peer to close the connection; true if it did.
    func waitForClose(timeout: Duration) async -> Bool {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < timeout {
            drain()
            if isClosedByPeer { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        drain()
        return isClosedByPeer
    }

    /// Waits up to `timeout` for one whole response (head, and a body of its `Content-Length`); nil if none came.
    func response(timeout: Duration) async -> (status: Int, head: String, body: String)? {
        let start = ContinuousClock.now
        while true {
            drain()
            if let parsed = Self.parse(received) {
                received.removeFirst(parsed.length)
                taken += parsed.length
                return (parsed.status, parsed.head, parsed.body)
            }
            if isClosedByPeer || ContinuousClock.now - start >= timeout { return nil }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    private static func parse(_ bytes: [UInt8]) -> (status: Int, head: String, body: String, length: Int)? {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard bytes.count >= 4, let end = (0...(bytes.count - 4)).first(where: { Array(bytes[$0..<$0 + 4]) == separator })
        else { return nil }
        let head = String(decoding: bytes[0..<end], as: UTF8.self)
        let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
        var length = 0
        for line in head.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
            length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
        }
        guard bytes.count >= end + 4 + length else { return nil }
        let body = String(decoding: bytes[(end + 4)..<(end + 4 + length)], as: UTF8.self)
        return (status, head, body, end + 4 + length)
    }
}
