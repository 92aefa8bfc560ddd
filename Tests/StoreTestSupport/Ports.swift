import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Picks TCP ports on loopback that are free right now (every test suite and, in scripts/lib/ports.py, every script
/// choose them the same way).
public enum Ports {
    /// A port free on 127.0.0.1 right now, chosen at random below the kernel's ephemeral range (32768–60999), so
    /// that the outgoing connections of everything else running (which take ephemeral ports) cannot take it before
    /// the daemon binds it. Another test choosing the same port is unlikely (12,768 of them) and shows as a clear
    /// start-up failure in the daemon's log.
    public static func free() throws -> Int {
        for _ in 0..<100 {
            let port = Int.random(in: 20_000...32_767)
            if try bindable(port) { return port }
        }
        throw PortError(message: "no free port in 20000–32767 after 100 tries")
    }

    private static func bindable(_ port: Int) throws -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw PortError(message: "socket() failed: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return bound == 0
    }
}

/// No port could be chosen.
public struct PortError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
