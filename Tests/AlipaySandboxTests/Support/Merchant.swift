import Foundation
import Hummingbird
import HummingbirdTesting
import StoreTestSupport
import Synchronization

/// A merchant's `notify_url` on a real loopback port: records every body and answers as told.
final class Merchant: Sendable {
    /// What to answer to the n-th body (1-based) and how long to hold the answer at most: a held answer is let go
    /// when `serve` ends, so a test can say "this one never answers in time" without a wall-clock race.
    typealias Answer = @Sendable (_ count: Int, _ body: String) -> (text: String, delay: Duration?)

    private let received = Mutex<[String]>([])
    private let answer: Answer
    private let release = Gate()

    /// A merchant answering with `answer`.
    init(answer: @escaping Answer) {
        self.answer = answer
    }

    /// Always answers `text`.
    convenience init(always text: String) {
        self.init { _, _ in (text, nil) }
    }

    /// Every body received, in order.
    var bodies: [String] { received.withLock { $0 } }

    /// Runs the merchant's server on a free port while `body` runs, passing it the `notify_url`.
    func serve<Value: Sendable>(_ body: @Sendable (_ notifyURL: String) async throws -> Value) async throws -> Value {
        let router = Router()
        router.post("/notify") { [self] request, _ -> String in
            let bytes = try await request.body.collect(upTo: 1 << 20)
            let text = String(buffer: bytes)
            let count = self.received.withLock {
                $0.append(text)
                return $0.count
            }
            let (reply, delay) = self.answer(count, text)
            if let delay { await self.release.wait(atMost: delay) }
            return reply
        }
        let app = Application(router: router)
        return try await app.test(.live) { [release] client in
            // Held answers go before the server's graceful shutdown, which waits for every request in flight.
            defer { release.open() }
            return try await body("http://localhost:\(client.port!)/notify")
        }
    }
}
