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
    let logger: Logger
    private let forger = ForgerKey()

    /// Creates a dispatcher; it makes its own HTTP client when it runs (one that never follows a redirect, as Alipay's
    /// notifier does not) and shuts it down when it stops.
    public init(sandbox: Sandbox, logger: Logger = Logger(label: "alipay-sandbox.notify")) {
        self.sandbox = sandbox
        self.logger = logger
    }

    /// The HTTP client configuration: no redirects followed (a 3xx is a failed attempt), no decompression.
    static var clientConfiguration: HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        configuration.decompression = .disabled
        return configuration
    }

    /// Runs until graceful shutdown or cancellation.
    public func run() async throws {
        try await HTTPClient.withHTTPClient(configuration: Self.clientConfiguration) { httpClient in
            await drain(using: httpClient)
        }
    }

    private func drain(using httpClient: HTTPClient) async {
        let (wakeups, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        await sandbox.attach(wakeup: continuation)
        await withDiscardingTaskGroup { group in
            var timer: Task<Void, Never>?
            await withGracefulShutdownHandler {
                for await _ in wakeups {
                    let (due, nextWake) = await sandbox.takeDue(now: Date())
                    for item in due {
                        group.addTask { await self.deliver(item, using: httpClient) }
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
    func deliver(_ item: DueNotification, using httpClient: HTTPClient) async {
        let configuration = sandbox.configuration
        let faults = sandbox.faults
        let target = NotifyTarget(item.url)
        if faults.takeDrop() {
            await sandbox.complete(item, outcome: .dropped(at: Date()), url: target.url, extras: [])
            return
        }
        var extras: [(Delivery.Kind, AttemptOutcome)] = []
        if item.attempt == 1, faults.shouldForge() {
            do {
                let forged = try Self.signedBody(item.parameters, key: try forger.key(), signType: configuration.signType)
                extras.append((.forged, await post(forged, to: target, using: httpClient)))
            } catch {
                logger.error("cannot make a forged notification: \(error)")
            }
        }
        let outcome: AttemptOutcome
        var body: SignedNotification?
        do {
            // Signed with the key Alipay uses now; in certificate mode its certificate's SN rides along, unsigned.
            let signing = sandbox.signing
            var parameters = item.parameters
            parameters["alipay_cert_sn"] = signing.certSN
            body = try Self.signedBody(parameters, key: signing.key, signType: configuration.signType)
            outcome = await post(body!, to: target, using: httpClient)
        } catch {
            logger.error("cannot sign a notification: \(error)", metadata: ["notify_id": "\(item.notifyId)"])
            outcome = AttemptOutcome(answer: "error: cannot sign (\(error))", time: Date())
        }
        if let body, faults.shouldDuplicate() {
            extras.append((.duplicate, await post(body, to: target, using: httpClient)))
        }
        await sandbox.complete(item, outcome: outcome, url: target.url, extras: extras)
    }

    /// A signed form body and the charset it is written in.
    struct SignedNotification: Sendable {
        var form: String
        var charset: String
    }

    /// Signs in the notification's charset; a GBK notification whose text has no GBK form goes out in UTF-8 instead.
    static func signedBody(_ parameters: [String: String], key: RSAPrivateKey, signType: SignType) throws -> SignedNotification {
        let charset = parameters["charset"] ?? "utf-8"
        do {
            return SignedNotification(form: try NotificationSigner.signedBody(parameters, key: key, signType: signType), charset: charset)
        } catch is FormError where charset.lowercased() != "utf-8" {
            var utf8 = parameters
            utf8["charset"] = "utf-8"
            return SignedNotification(form: try NotificationSigner.signedBody(utf8, key: key, signType: signType), charset: "utf-8")
        }
    }

    /// POSTs one form body and reads the answer, all within the notify timeout.
    ///
    /// Only HTTP 200 with the body exactly `success` (7 bytes, nothing around them) acknowledges, as Alipay demands;
    /// a redirect is not followed and counts as a failed attempt.
    func post(_ body: SignedNotification, to target: NotifyTarget, using client: HTTPClient) async -> AttemptOutcome {
        let timeout = sandbox.configuration.notifyTimeout
        let started = Date()
        var request = HTTPClientRequest(url: target.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded; charset=\(body.charset)")
        request.headers.add(name: "User-Agent", value: "Mozilla/4.0 (alipay-sandbox)")
        // A notify_url's own query string goes in front of the notification's fields, unsigned, as Alipay sends it.
        request.body = .bytes(ByteBuffer(string: target.query.map { "\($0)&\(body.form)" } ?? body.form))
        let prepared = request
        do {
            return try await withThrowingTaskGroup(of: AttemptOutcome?.self) { group in
                group.addTask {
                    let response = try await client.execute(prepared, timeout: .nanoseconds(Int64(timeout.timeInterval * 1e9)))
                    let buffer = try await response.body.collect(upTo: 64 * 1024)
                    let bytes = Array(buffer.readableBytesView)
                    let status = Int(response.status.code)
                    return AttemptOutcome(
                        answer: String(String(decoding: bytes, as: UTF8.self).prefix(200)), httpStatus: status,
                        acknowledged: status == 200 && bytes == Array("success".utf8), time: started)
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
