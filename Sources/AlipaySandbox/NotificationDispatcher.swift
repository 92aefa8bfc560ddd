import AlipayKit
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// Sends the sandbox's notifications to `notify_url` and re-sends them on Alipay's schedule until one is answered `success`.
///
/// A service: it sleeps until the next attempt is due or the sandbox signals new work, runs each attempt in its own
/// child task (a slow merchant delays nobody else), and on graceful shutdown stops taking work and lets the attempts
/// in flight finish (each bounded by the notify timeout).
public struct NotificationDispatcher: Service {
    /// The sandbox whose outbox it drains.
    public let sandbox: Sandbox
    let httpClient: HTTPClient
    let logger: Logger
    private let forger = ForgerKey()

    /// Creates a dispatcher; `HTTPClient.shared` needs no shutdown.
    public init(sandbox: Sandbox, httpClient: HTTPClient = .shared, logger: Logger = Logger(label: "alipay-sandbox.notify")) {
        self.sandbox = sandbox
        self.httpClient = httpClient
        self.logger = logger
    }

    /// Runs until graceful shutdown or cancellation.
    public func run() async throws {
        let (wakeups, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        await sandbox.attach(wakeup: continuation)
        await withDiscardingTaskGroup { group in
            var timer: Task<Void, Never>?
            await withGracefulShutdownHandler {
                for await _ in wakeups {
                    let (due, nextWake) = await sandbox.takeDue(now: Date())
                    for item in due {
                        group.addTask { await self.deliver(item) }
                    }
                    timer?.cancel()
                    timer = nextWake.map { wake in
                        Task {
                            try? await Task.sleep(for: .seconds(max(0, wake.timeIntervalSinceNow)))
                            if !Task.isCancelled { continuation.yield() }
                        }
                    }
                }
            } onGracefulShutdown: {
                continuation.finish()
            }
            timer?.cancel()
        }
        await sandbox.detachWakeup()
    }

    /// One attempt: dropped, or sent (preceded by a forged copy, followed by a duplicate, as the faults decide).
    func deliver(_ item: DueNotification) async {
        let configuration = sandbox.configuration
        let faults = sandbox.faults
        if faults.takeDrop() {
            await sandbox.complete(item, outcome: .dropped(at: Date()), extras: [])
            return
        }
        var extras: [(Delivery.Kind, AttemptOutcome)] = []
        if item.attempt == 1, faults.shouldForge() {
            do {
                let forged = try NotificationSigner.signedBody(item.parameters, key: try forger.key(), signType: configuration.signType)
                extras.append((.forged, await post(forged, to: item.url)))
            } catch {
                logger.error("cannot make a forged notification: \(error)")
            }
        }
        let outcome: AttemptOutcome
        var body: String?
        do {
            body = try NotificationSigner.signedBody(item.parameters, key: configuration.alipayPrivateKey, signType: configuration.signType)
            outcome = await post(body!, to: item.url)
        } catch {
            logger.error("cannot sign a notification: \(error)", metadata: ["notify_id": "\(item.notifyId)"])
            outcome = AttemptOutcome(answer: "error: cannot sign (\(error))", time: Date())
        }
        if let body, faults.shouldDuplicate() {
            extras.append((.duplicate, await post(body, to: item.url)))
        }
        await sandbox.complete(item, outcome: outcome, extras: extras)
    }

    /// POSTs one form body and reads the answer, all within the notify timeout.
    func post(_ body: String, to url: String) async -> AttemptOutcome {
        let timeout = sandbox.configuration.notifyTimeout
        let started = Date()
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded; charset=utf-8")
        request.headers.add(name: "User-Agent", value: "Mozilla/4.0 (alipay-sandbox)")
        request.body = .bytes(ByteBuffer(string: body))
        let client = httpClient
        let prepared = request
        do {
            return try await withThrowingTaskGroup(of: AttemptOutcome?.self) { group in
                group.addTask {
                    let response = try await client.execute(prepared, timeout: .nanoseconds(Int64(timeout.timeInterval * 1e9)))
                    let buffer = try await response.body.collect(upTo: 64 * 1024)
                    let text = String(buffer: buffer).trimmingCharacters(in: .whitespacesAndNewlines)
                    let status = Int(response.status.code)
                    return AttemptOutcome(
                        answer: String(text.prefix(200)), httpStatus: status,
                        acknowledged: (200..<300).contains(status) && text == "success", time: started)
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                let first = try await group.next()!
                group.cancelAll()
                return first ?? AttemptOutcome(answer: "timeout", time: started)
            }
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            return AttemptOutcome(answer: "timeout", time: started)
        } catch {
            return AttemptOutcome(answer: "error: \(error)", time: started)
        }
    }
}

/// A throwaway key that is not Alipay's, made on first use, for fault `forged`.
private final class ForgerKey: Sendable {
    private let cached = Mutex<RSAPrivateKey?>(nil)

    func key() throws -> RSAPrivateKey {
        try cached.withLock { cached in
            if let cached { return cached }
            let key = try RSAPrivateKey.generate()
            cached = key
            return key
        }
    }
}
