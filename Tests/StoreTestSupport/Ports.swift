import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Picks TCP ports on loopback that are free right now, for every test suite (scripts/lib/ports.py does the same
/// for the scripts, in a range of its own).
public enum Ports {
    /// A port free on 127.0.0.1 right now, below the kernel's ephemeral range (32768–60999), so that the outgoing
    /// connections of everything else running (which take ephemeral ports) cannot take it before the daemon binds it;
    /// and never one this process handed out before. Ports are handed out in turn from a random start: chosen at
    /// random, two of the hundreds a test run asks for collided, and one test's requests reached another test's
    /// receiver (a CI run: "answered but not stored", and a store with rows it never received).
    public static func free() throws -> Int {
        try next.withLock { next in
            for _ in 0..<range.count {
                let port = next
                next = next == range.upperBound ? range.lowerBound : next + 1
                if try bindable(port) { return port }
            }
            throw PortError(message: "no free port in \(range.lowerBound)–\(range.upperBound)")
        }
    }

    /// Where the test processes choose (scripts/lib/ports.py chooses above it).
    static let range = 20_000...29_999
    private static let next = Mutex(Int.random(in: range))

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
