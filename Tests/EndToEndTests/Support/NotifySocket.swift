import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A stand-in for systemd's notify socket: a Unix datagram socket the daemon sends `READY=1`, `STOPPING=1`… to.
final class NotifySocket: @unchecked Sendable {
    /// The socket's path, for `NOTIFY_SOCKET`.
    let path: String
    private let fd: Int32
    private var received: [String] = []

    /// Binds a datagram socket at `path`.
    init(path: String) throws {
        self.path = path
        unlink(path)
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket(AF_UNIX) failed: errno \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw HarnessError("socket path too long: \(path)") }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw HarnessError("bind(\(path)) failed: errno \(errno)") }
    }

    deinit {
        close(fd)
        unlink(path)
    }

    /// Waits until a datagram equal to `message` (or containing it as a line) arrives; returns every message so far.
    @discardableResult
    func waitFor(_ message: String, timeout: Duration = .seconds(30)) async throws -> [String] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if count > 0 {
                received.append(String(decoding: buffer[0..<count], as: UTF8.self))
                if received.last!.split(separator: "\n").contains(where: { $0 == message }) { return received }
                continue
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw HarnessError("no \(message) on the notify socket within \(timeout); received: \(received)")
    }
}
