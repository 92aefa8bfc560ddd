import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Wake-ups between processes sharing one SQLite file: a commit that enqueued jobs sends an empty datagram to every
/// worker listening in the folder `PATH.wake/` (one Unix datagram socket each). A hint only: a lost datagram costs
/// the worker's poll interval, nothing else. Sockets of workers that died are removed by the next sender.
final class SQLiteWakeUps: Sendable {
    let folder: String
    /// The listening sockets, re-read at most every second (a commit does not list the folder each time).
    private let targets = Mutex<(read: ContinuousClock.Instant?, paths: [String])>((nil, []))

    /// One unbound, non-blocking datagram socket sends every wake-up (the receiver commits many times a second).
    private let sender: Int32

    init(databasePath: String) {
        folder = databasePath + ".wake"
        sender = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    }

    deinit {
        if sender >= 0 { close(sender) }
    }

    /// Sends one datagram to each listener; never blocks, never fails the caller.
    func notify() {
        let now = ContinuousClock.now
        let paths = targets.withLock { targets -> [String] in
            if let read = targets.read, now - read < .seconds(1) { return targets.paths }
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            targets = (now, names.filter { $0.hasSuffix(".sock") }.map { "\(folder)/\($0)" })
            return targets.paths
        }
        guard !paths.isEmpty, sender >= 0 else { return }
        let descriptor = sender
        var stale: [String] = []
        for path in paths {
            guard var address = Self.address(path) else { continue }
            let sent = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(descriptor, "", 0, 0, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            if sent < 0 && (errno == ECONNREFUSED || errno == ENOENT) { stale.append(path) }
        }
        for path in stale { unlink(path) }
        if !stale.isEmpty { targets.withLock { $0.read = nil } }
    }

    /// A stream that yields whenever a datagram arrives; its socket is removed when the stream ends. Nil when the
    /// socket cannot be made (a read-only folder, a path too long for a Unix socket).
    func stream() -> AsyncStream<Void>? {
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let path = "\(folder)/\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        guard var address = Self.address(path) else { return nil }
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else {
            close(descriptor)
            return nil
        }
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let source = DispatchSource.makeReadSource(fileDescriptor: descriptor, queue: DispatchQueue(label: "alipay-notify.wake"))
        source.setEventHandler {
            var byte: UInt8 = 0
            while recv(descriptor, &byte, 1, 0) >= 0 {}  // drain: several commits are one wake-up
            continuation.yield()
        }
        source.setCancelHandler {
            close(descriptor)
            unlink(path)
        }
        source.resume()
        let cancel = SourceCanceller(source)
        continuation.onTermination = { _ in cancel.cancel() }
        return stream
    }

    /// Carries the read source into the stream's termination handler (a Dispatch source is safe to cancel from any
    /// thread, but not marked Sendable).
    private final class SourceCanceller: @unchecked Sendable {
        let source: any DispatchSourceRead
        init(_ source: any DispatchSourceRead) { self.source = source }
        func cancel() { source.cancel() }
    }

    private static func address(_ path: String) -> sockaddr_un? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in bytes.enumerated() { buffer[index] = byte }
        }
        return address
    }
}
