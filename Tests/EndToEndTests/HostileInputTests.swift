import Foundation
import NotifyStore
import NotifyStoreSQLite
import StoreTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The real `notify-receiver` against hostile input on `POST /alipay/notify` (docs/architecture.md invariant 2):
/// every request gets a bounded `failure`, the process stays healthy, and nothing reaches the store.
@Suite("notify-receiver hostile input", .serialized)
struct HostileInputTests {
    /// The receiver's body limit (docs/architecture.md HTTP contract: body up to 64 KiB).
    static let limit = 64 * 1024

    @Test("a stalled body (slowloris) does not block other connections, and nothing of it is stored")
    func slowlorisDoesNotBlockOthers() async throws {
        let workspace = try TestWorkspace(name: "hostile-slowloris")
        let receiver = try await ReceiverDaemon.start(in: workspace)
        let port = try Self.port(of: receiver.publicURL)

        // Several connections send complete headers claiming 1000 bytes, then a few bytes, then stall.
        var stalled: [RawConnection] = []
        for index in 0..<8 {
            let connection = try RawConnection(port: port)
            let prefix = Array("notify_id=slow-\(index)&out".utf8)
            try connection.send(Self.postHead(contentLength: 1000) + prefix)
            stalled.append(connection)
        }
        // One sends a whole signed notification but claims 16 bytes more: it must not be processed early.
        let signedSlow = try SignedNotifications.body(notifyId: "slow-signed", outTradeNo: "SLOW0001", key: workspace.alipayKey)
        let almost = try RawConnection(port: port)
        try almost.send(Self.postHead(contentLength: signedSlow.utf8.count + 16) + Array(signedSlow.utf8))
        stalled.append(almost)
        // And one stalls in the middle of its header section.
        let halfHead = try RawConnection(port: port)
        try halfHead.send(Array("POST /alipay/notify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le".utf8))
        stalled.append(halfHead)

        // Meanwhile a normal delivery on another connection is answered promptly.
        let body = try SignedNotifications.body(notifyId: "after-slow-1", outTradeNo: "SLOW0002", key: workspace.alipayKey)
        let started = ContinuousClock.now
        let reply = try await HTTP.notify(receiver.publicURL, body: body, timeout: .seconds(10))
        #expect(reply.status == 200)
        #expect(reply.body == "success")
        #expect(ContinuousClock.now - started < .seconds(15), "a stalled connection delayed another one (the server idle timeout is 30 s)")
        #expect(try await HTTP.send(.GET, "\(receiver.publicURL)/healthz").status == 200)

        // Abandon the stalled connections mid-body, then prove the process still serves and stores.
        for connection in stalled { connection.close() }
        let second = try SignedNotifications.body(notifyId: "after-slow-2", outTradeNo: "SLOW0003", key: workspace.alipayKey)
        #expect(try await HTTP.notify(receiver.publicURL, body: second).body == "success")

        let stored = try await StoreInspector.notifications(in: workspace)
        #expect(Set(stored.keys) == ["after-slow-1", "after-slow-2"])
        let jobs = try await StoreInspector.jobs(in: workspace, kind: .notification)
        #expect(Set(jobs.map(\.notifyId)) == ["after-slow-1", "after-slow-2"])
        try await Self.stop(receiver, workspace)
    }

    @Test("a body over 64 KiB is 413 failure; a Content-Length claiming 10 MB is refused without waiting for it")
    func oversizedBodies() async throws {
        let workspace = try TestWorkspace(name: "hostile-oversize")
        let receiver = try await ReceiverDaemon.start(in: workspace)
        let port = try Self.port(of: receiver.publicURL)

        // A real body one byte over the limit, with an honest Content-Length.
        let over = "notify_id=" + String(repeating: "a", count: Self.limit + 1 - "notify_id=".utf8.count)
        let tooLarge = try await HTTP.notify(receiver.publicURL, body: over)
        #expect(tooLarge.status == 413)
        #expect(tooLarge.body == "failure")

        // A header claiming 10 MB followed by a small body: answered at once, not after a 10 MB wait.
        let liar = try RawConnection(port: port)
        defer { liar.close() }
        try liar.send(Self.postHead(contentLength: 10 * 1024 * 1024) + Array("notify_id=x&sign=y".utf8))
        let claimed = try liar.readResponse()
        #expect(claimed.status == 413 || claimed.status == 400, "got \(claimed.status)")
        #expect(claimed.body == "failure")

        // A chunked body (no Content-Length to refuse up front) that grows past the limit while being read.
        let chunked = try RawConnection(port: port)
        defer { chunked.close() }
        var request = Array(
            ("POST /alipay/notify HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + "Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n").utf8)
        let chunk = Array(String(repeating: "c", count: 4096).utf8)
        for _ in 0..<17 { request += Array("1000\r\n".utf8) + chunk + Array("\r\n".utf8) }
        request += Array("0\r\n\r\n".utf8)
        try chunked.send(request)
        let streamed = try chunked.readResponse()
        #expect(streamed.status == 413, "got \(streamed.status)")
        #expect(streamed.body == "failure")

        try await Self.expectHealthyAndEmpty(receiver, workspace)
        try await Self.stop(receiver, workspace)
    }

    @Test(
        "a content type other than application/x-www-form-urlencoded is 4xx failure, even with a valid signature",
        arguments: ["application/json", "text/plain", "multipart/form-data; boundary=xyz", nil] as [String?])
    func wrongContentType(_ contentType: String?) async throws {
        let workspace = try TestWorkspace(name: "hostile-ctype")
        let receiver = try await ReceiverDaemon.start(in: workspace)

        // A correctly signed form body: only the content type is wrong, so a lax receiver would store it.
        let body = try SignedNotifications.body(notifyId: "ctype-1", outTradeNo: "CTYPE0001", key: workspace.alipayKey)
        let headers = contentType.map { [("Content-Type", $0)] } ?? []
        let reply = try await HTTP.send(.POST, "\(receiver.publicURL)/alipay/notify", headers: headers, body: body)
        #expect((400..<500).contains(reply.status), "got \(reply.status)")
        #expect(reply.body == "failure")

        try await Self.expectHealthyAndEmpty(receiver, workspace)
        try await Self.stop(receiver, workspace)
    }

    @Test("bytes that are not UTF-8 in keys and values, percent-encoded or raw, are 400 failure")
    func nonUTF8Bytes() async throws {
        let workspace = try TestWorkspace(name: "hostile-utf8")
        let receiver = try await ReceiverDaemon.start(in: workspace)
        let port = try Self.port(of: receiver.publicURL)

        let encoded = [
            "%FF%FE=v&notify_id=bad-1&sign=abc",
            "notify_id=%FF%FE&out_trade_no=%C0%AF&sign=abc",
            "notify_id=bad-3&subject=%E6%B5&sign_type=RSA2&sign=%FF",
        ]
        for body in encoded {
            let reply = try await HTTP.notify(receiver.publicURL, body: body)
            #expect(reply.status == 400, "\(body) got \(reply.status)")
            #expect(reply.body == "failure")
        }

        let raw: [[UInt8]] = [
            [0xFF, 0xFE] + Array("=v&notify_id=bad-4&sign=abc".utf8),
            Array("notify_id=".utf8) + [0xFF, 0xFE, 0xC0] + Array("&sign=abc".utf8),
        ]
        for body in raw {
            let connection = try RawConnection(port: port)
            defer { connection.close() }
            try connection.send(Self.postHead(contentLength: body.count) + body)
            let reply = try connection.readResponse()
            #expect(reply.status == 400, "raw \(body.prefix(12)) got \(reply.status)")
            #expect(reply.body == "failure")
        }

        try await Self.expectHealthyAndEmpty(receiver, workspace)
        try await Self.stop(receiver, workspace)
    }

    @Test("5,000 keys under 64 KiB are 400 failure within a bounded time")
    func thousandsOfKeys() async throws {
        let workspace = try TestWorkspace(name: "hostile-keys")
        let receiver = try await ReceiverDaemon.start(in: workspace)

        let body = (0..<5000).map { "k\($0)=v" }.joined(separator: "&")
        #expect(body.utf8.count < Self.limit)
        let started = ContinuousClock.now
        let reply = try await HTTP.notify(receiver.publicURL, body: body, timeout: .seconds(20))
        #expect(reply.status == 400)
        #expect(reply.body == "failure")
        // Generous: only there to catch a hang or quadratic blow-up, not to benchmark.
        #expect(ContinuousClock.now - started < .seconds(30))  // bounds a hang only

        try await Self.expectHealthyAndEmpty(receiver, workspace)
        try await Self.stop(receiver, workspace)
    }

    @Test("one huge unsigned value just under and exactly at 64 KiB is 400 failure, not 413")
    func hugeSingleValue() async throws {
        let workspace = try TestWorkspace(name: "hostile-value")
        let receiver = try await ReceiverDaemon.start(in: workspace)

        for size in [Self.limit - 1, Self.limit] {
            let body = "notify_id=" + String(repeating: "z", count: size - "notify_id=".utf8.count)
            #expect(body.utf8.count == size)
            let reply = try await HTTP.notify(receiver.publicURL, body: body)
            #expect(reply.status == 400, "\(size) bytes got \(reply.status)")
            #expect(reply.body == "failure")
        }

        try await Self.expectHealthyAndEmpty(receiver, workspace)
        try await Self.stop(receiver, workspace)
    }

    // MARK: - Helpers

    /// The request line and headers of a form POST to `/alipay/notify`.
    static func postHead(contentLength: Int) -> [UInt8] {
        Array(
            ("POST /alipay/notify HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + "Content-Type: application/x-www-form-urlencoded; charset=utf-8\r\n"
                + "Content-Length: \(contentLength)\r\n\r\n").utf8)
    }

    /// The port of `http://127.0.0.1:<port>`.
    static func port(of url: String) throws -> Int {
        guard let port = URL(string: url)?.port else { throw HarnessError("no port in \(url)") }
        return port
    }

    /// The process still answers `/healthz`, and neither a notification nor a job of any kind was stored.
    static func expectHealthyAndEmpty(_ receiver: ReceiverDaemon, _ workspace: TestWorkspace) async throws {
        #expect(try await HTTP.send(.GET, "\(receiver.publicURL)/healthz").status == 200)
        #expect(try await StoreInspector.notifications(in: workspace).isEmpty)
        for kind in [JobKind.notification, .reconcile, .close] {
            #expect(try await StoreInspector.jobs(in: workspace, kind: kind).isEmpty, "\(kind) jobs were stored")
        }
    }

    /// SIGTERM, a clean exit, and the workspace removed.
    static func stop(_ receiver: ReceiverDaemon, _ workspace: TestWorkspace) async throws {
        receiver.process.signal(SIGTERM)
        #expect(try await receiver.process.waitForExit() == 0)
        workspace.remove()
    }
}

/// A blocking loopback TCP connection for requests AsyncHTTPClient refuses to send (lying Content-Length,
/// raw non-UTF-8 bytes, stalled bodies). Reads and writes time out after a few seconds so a test cannot hang.
private final class RawConnection: @unchecked Sendable {
    private let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket() failed: errno \(errno)") }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            Glibc.close(fd)
            throw HarnessError("connect() to 127.0.0.1:\(port) failed: errno \(errno)")
        }
    }

    /// Writes all of `bytes` (MSG_NOSIGNAL: a peer that closed early is an error, not a SIGPIPE).
    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { throw HarnessError("send() failed: errno \(errno)") }
            offset += written
        }
    }

    /// Reads one response with a Content-Length body (Hummingbird always sends one for these answers).
    func readResponse() throws -> HTTP.Reply {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        let separator = Array("\r\n\r\n".utf8)
        while true {
            if let end = Self.find(separator, in: received) {
                let head = String(decoding: received[..<end], as: UTF8.self)
                let lines = head.split(separator: "\r\n")
                let statusParts = lines.first?.split(separator: " ") ?? []
                guard statusParts.count >= 2, let status = Int(statusParts[1]) else {
                    throw HarnessError("malformed status line: \(lines.first ?? "")")
                }
                let length = lines.dropFirst().compactMap { line -> Int? in
                    let parts = line.split(separator: ":", maxSplits: 1)
                    guard parts.count == 2, parts[0].lowercased() == "content-length" else { return nil }
                    return Int(parts[1].trimmingCharacters(in: .whitespaces))
                }.first ?? 0
                let bodyStart = end + separator.count
                if received.count - bodyStart >= length {
                    return HTTP.Reply(status: status, body: String(decoding: received[bodyStart..<(bodyStart + length)], as: UTF8.self))
                }
            }
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else {
                throw HarnessError("connection ended (recv \(count), errno \(errno)) after \(received.count) bytes")
            }
            received += buffer[..<count]
        }
    }

    func close() { Glibc.close(fd) }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for start in 0...(haystack.count - needle.count) where Array(haystack[start..<(start + needle.count)]) == needle {
            return start
        }
        return nil
    }
}
