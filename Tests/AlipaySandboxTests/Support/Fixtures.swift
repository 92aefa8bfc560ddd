import AlipayKit
import AlipaySandbox
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

/// Keys, identities and builders shared by the sandbox tests.
enum Fixtures {
    static let appId = "2021000000000001"
    static let sellerId = "2088000000000001"
    /// Alipay's key pair, as the sandbox uses it (real 2048-bit RSA, made once per test run).
    static let alipayKey = try! RSAPrivateKey.generate()
    /// The merchant app's key pair.
    static let appKey = try! RSAPrivateKey.generate()

    /// A sandbox configuration for tests: free port, a fast clock, and a notify timeout that only bounds a hung merchant.
    static func configuration(timeScale: Double = 100_000, stateFile: String? = nil, faults: FaultConfiguration = FaultConfiguration())
        -> SandboxConfiguration
    {
        var configuration = SandboxConfiguration(
            appId: appId, sellerId: sellerId, alipayPrivateKey: alipayKey, appPublicKey: appKey.publicKey)
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.timeScale = timeScale
        configuration.stateFile = stateFile
        configuration.faults = faults
        // Far above what a loopback answer takes even on a loaded machine: a merchant that answers at once must never
        // be recorded as a timeout. Tests about timeouts set their own and hold the merchant's answer instead.
        configuration.notifyTimeout = .seconds(20)
        return configuration
    }

    /// The merchant's side: AlipayKit's signer and verifiers configured against the sandbox's keys.
    static func alipayConfiguration(notifyURL: String? = nil, returnURL: String? = "http://merchant.test/alipay/return")
        -> AlipayConfiguration
    {
        AlipayConfiguration(
            appId: appId, appPrivateKey: appKey, alipayPublicKey: alipayKey.publicKey, gatewayURL: "http://sandbox.test/gateway.do",
            notifyURL: notifyURL, returnURL: returnURL)
    }

    static var notificationVerifier: NotificationVerifier {
        NotificationVerifier(alipayPublicKey: alipayKey.publicKey, appId: appId)
    }

    static var responseVerifier: ResponseVerifier {
        ResponseVerifier(alipayPublicKey: alipayKey.publicKey)
    }

    /// A temporary directory removed by the caller.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("alipay-sandbox-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// Something that did not happen in time.
struct TimedOut: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out waiting for \(what)" }
}

/// Waits for `condition` on the sandbox's state; `seconds` only bounds a hang (the condition decides the result).
func waitUntil(
    _ sandbox: Sandbox, _ what: String, seconds: Double = 60, _ condition: @escaping @Sendable (SandboxSnapshot) -> Bool
) async throws {
    try await withDeadline(seconds: seconds, what) { await sandbox.waitUntil(condition) }
}

/// Runs `body`, throwing `TimedOut` if it has not finished after `seconds`: a bound on a hang, never a measurement.
func withDeadline<Value: Sendable>(
    seconds: Double, _ what: String, _ body: @escaping @Sendable () async throws -> Value
) async throws -> Value {
    try await withThrowingTaskGroup(of: Value?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            return nil
        }
        defer { group.cancelAll() }
        guard let value = try await group.next()! else { throw TimedOut(what: what) }
        return value
    }
}

/// A sandbox and its application (with the notification dispatcher among its services) for `app.test(...)`.
struct SandboxHarness {
    let sandbox: Sandbox
    let application: any ApplicationProtocol

    init(_ configuration: SandboxConfiguration = Fixtures.configuration(), logger: Logger = Logger(label: "sandbox-test")) throws {
        sandbox = try Sandbox(configuration: configuration, logger: logger)
        let dispatcher = NotificationDispatcher(sandbox: sandbox, logger: logger)
        application = SandboxApplication.make(sandbox: sandbox, services: [dispatcher], logger: logger)
    }

    /// Runs `body` against the router (in-process), the dispatcher running alongside.
    func run<Value: Sendable>(_ body: @Sendable (any TestClientProtocol) async throws -> Value) async throws -> Value {
        try await application.test(.router, body)
    }
}

/// A merchant's signed gateway calls through a test client, as AlipayKit makes them.
struct MerchantClient: Sendable {
    let signer: RequestSigner

    init(notifyURL: String? = nil, returnURL: String? = "http://merchant.test/alipay/return") {
        signer = RequestSigner(configuration: Fixtures.alipayConfiguration(notifyURL: notifyURL, returnURL: returnURL))
    }

    init(signer: RequestSigner) {
        self.signer = signer
    }

    /// The request's signed parameters.
    func parameters<R: AlipayRequest>(_ request: R) throws -> [String: String] {
        try signer.signedParameters(request)
    }

    /// GET /gateway.do with the parameters in the query string.
    func get(_ parameters: [String: String], client: some TestClientProtocol) async throws -> TestResponse {
        try await client.execute(uri: "/gateway.do?" + FormCodec.encode(parameters), method: .get)
    }

    /// POST /gateway.do with `charset` in the URL and everything in the form body, as the official SDKs post.
    func post(_ parameters: [String: String], client: some TestClientProtocol) async throws -> TestResponse {
        try await client.execute(
            uri: "/gateway.do?charset=utf-8", method: .post,
            headers: [.contentType: "application/x-www-form-urlencoded;charset=utf-8"],
            body: ByteBuffer(string: FormCodec.encode(parameters)))
    }

    /// Signs, sends and classifies a server-to-server call with AlipayKit's ResponseVerifier.
    func call<R: AlipayRequest>(_ request: R, client: some TestClientProtocol) async throws -> GatewayOutcome<R.Response> {
        let response = try await get(try parameters(request), client: client)
        return Fixtures.responseVerifier.outcome(for: R.self, httpStatus: Int(response.status.code), body: Array(response.body.readableBytesView))
    }

    /// Opens the cashier for a new order: the HTML page.
    func openCashier(
        outTradeNo: String, amount: String = "88.88", subject: String = "Sandbox order", client: some TestClientProtocol
    ) async throws -> String {
        let request = TradePagePay(outTradeNo: outTradeNo, totalAmount: try Amount(amount), subject: subject)
        let response = try await get(try parameters(request), client: client)
        #expect(response.status == .ok)
        return String(buffer: response.body)
    }

    /// Opens the cashier and presses Pay: the response to the form post.
    func pay(outTradeNo: String, amount: String = "88.88", client: some TestClientProtocol) async throws -> TestResponse {
        let html = try await openCashier(outTradeNo: outTradeNo, amount: amount, client: client)
        let action = try #require(html.firstMatch(of: /action="(\/cashier\/\d+\/pay)"/)).1
        return try await client.execute(uri: String(action), method: .post)
    }
}

extension GatewayOutcome {
    /// The success value, or nil.
    var value: Response? {
        if case .success(let value) = self { return value }
        return nil
    }
}
