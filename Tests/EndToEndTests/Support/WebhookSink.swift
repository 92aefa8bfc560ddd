import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// The merchant's application as the webhook tests need it: an HTTP server on a free loopback port that records every
/// delivery (headers, body, arrival time) and answers from a script (500, 500, 200 …; 410; 503 with Retry-After; a
/// hang), then with `otherwise`.
final class WebhookSink: Sendable {
    /// One request as it arrived.
    struct Delivery: Sendable {
        let headers: [String: String]
        let body: String
        let at: ContinuousClock.Instant

        var id: String { headers["webhook-id"] ?? "" }
        /// The payload's `type`.
        var type: String { (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["type"] as? String ?? "" }
    }

    /// How to answer one request.
    enum Answer: Sendable {
        case status(Int, headers: [(String, String)] = [], body: String = "")
        /// Wait this long before answering 200 (past the worker's timeout, or while it is killed).
        case hang(Duration)
    }

    /// What arrived and what is left of the script, shared with the route handler.
    final class State: Sendable {
        let lock = Mutex<(deliveries: [Delivery], script: [Answer])>(([], []))
    }

    private let state = State()
    private let otherwise: Answer
    private let task: Task<Void, any Error>
    /// `http://127.0.0.1:<port>/hook`.
    let url: String

    /// Starts the sink; `script` answers the first requests in order.
    init(script: [Answer] = [], otherwise: Answer = .status(204)) async throws {
        self.otherwise = otherwise
        state.lock.withLock { $0.script = script }
        let router = Router()
        let state = state
        let otherwise = otherwise
        router.post("/hook") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            let answer = state.lock.withLock { state -> Answer in
                state.deliveries.append(Delivery(headers: headers, body: String(buffer: body), at: .now))
                return state.script.isEmpty ? otherwise : state.script.removeFirst()
            }
            switch answer {
            case .status(let code, let extra, let text):
                var fields = HTTPFields()
                for (name, value) in extra { fields[HTTPField.Name(name)!] = value }
                return Response(status: .init(code: code), headers: fields, body: .init(byteBuffer: ByteBuffer(string: text)))
            case .hang(let duration):
                try? await Task.sleep(for: duration)
                return Response(status: .ok)
            }
        }
        var logger = Logger(label: "webhook-sink")
        // Cancelling the server at the end of a test is its way to stop; it logs that as an error.
        logger.logLevel = .critical
        // Port 0: the kernel picks a free port when binding, so no other test can take it in between.
        let (bound, announce) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: nil),
            onServerRunning: { channel in
                announce.yield(channel.localAddress?.port ?? 0)
                announce.finish()
            }, logger: logger)
        task = Task {
            defer { announce.finish() }  // a server that cannot start ends the wait below
            try await app.run()
        }
        var port = 0
        for await value in bound {
            port = value
            break
        }
        guard port > 0 else {
            task.cancel()
            throw HarnessError("the webhook sink did not start")
        }
        url = "http://127.0.0.1:\(port)/hook"
    }

    /// Every delivery so far, in arrival order.
    var deliveries: [Delivery] { state.lock.withLock { $0.deliveries } }

    /// Waits until `count` deliveries arrived (the condition, not a fixed sleep).
    @discardableResult
    func waitFor(_ count: Int, timeout: Duration = .seconds(30), _ context: @autoclosure () -> String = "") async throws -> [Delivery] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let now = deliveries
            if now.count >= count { return now }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw HarnessError("the sink got \(deliveries.count) deliveries, not \(count), within \(timeout)\n\(context())")
    }

    func stop() {
        task.cancel()
    }
}
