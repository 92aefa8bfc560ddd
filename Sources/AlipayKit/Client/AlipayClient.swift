import AsyncHTTPClient
import Foundation
import NIOCore

/// Calls the Alipay gateway: signs the request, POSTs it, verifies and classifies the answer.
///
/// Never throws: transport errors, timeouts and 5xx are ``GatewayOutcome/retryable(_:)``, because the outcome of
/// the call is unknown and the only safe move is to ask again later.
public struct AlipayClient: Sendable {
    /// The app, keys and gateway.
    public let configuration: AlipayConfiguration
    /// Connection set-up limit.
    public let connectTimeout: Duration
    /// Limit for the answer once connected; the whole call is bounded by both together.
    public let readTimeout: Duration
    /// The largest response accepted; gateway answers are a few KiB.
    public static let maximumResponseBytes = 1 << 20

    private let httpClient: HTTPClient
    private let signer: RequestSigner
    private let verifier: ResponseVerifier

    /// Creates a client on `httpClient` (the shared one by default, which needs no shutdown).
    public init(
        configuration: AlipayConfiguration, httpClient: HTTPClient = .shared,
        connectTimeout: Duration = .seconds(3), readTimeout: Duration = .seconds(10)
    ) {
        self.configuration = configuration
        self.httpClient = httpClient
        self.connectTimeout = connectTimeout
        self.readTimeout = readTimeout
        self.signer = RequestSigner(configuration: configuration)
        self.verifier = ResponseVerifier(alipayPublicKey: configuration.alipayPublicKey, signType: configuration.signType)
    }

    /// Runs `body` with a client on its own `HTTPClient` whose connect and read timeouts are set at the socket level;
    /// that `HTTPClient` is shut down when `body` returns or throws.
    public static func withDedicatedHTTPClient<Result>(
        configuration: AlipayConfiguration, connectTimeout: Duration = .seconds(3), readTimeout: Duration = .seconds(10),
        _ body: (AlipayClient) async throws -> Result
    ) async throws -> Result {
        var httpConfiguration = HTTPClient.Configuration()
        httpConfiguration.timeout = .init(connect: timeAmount(connectTimeout), read: timeAmount(readTimeout))
        return try await HTTPClient.withHTTPClient(configuration: httpConfiguration) { httpClient in
            try await body(AlipayClient(configuration: configuration, httpClient: httpClient, connectTimeout: connectTimeout, readTimeout: readTimeout))
        }
    }

    /// Signs `request`, POSTs it to the gateway and returns the verified, classified outcome.
    ///
    /// Every signed parameter goes form-encoded in the body; the common parameters (all but `biz_content`) are
    /// repeated in the query string as the official SDKs send them. Both copies carry identical values.
    public func execute<R: AlipayRequest>(_ request: R) async -> GatewayOutcome<R.Response> {
        let parameters: [String: String]
        do {
            parameters = try signer.signedParameters(request)
        } catch {
            return .configurationError("cannot sign \(R.method): \(error)")
        }
        guard let url = URL(string: configuration.gatewayURL), ["http", "https"].contains(url.scheme?.lowercased() ?? ""), url.host != nil else {
            return .configurationError("gateway URL '\(configuration.gatewayURL)' is not an http(s) URL: check alipay.gatewayUrl")
        }
        var common = parameters
        common["biz_content"] = nil
        let separator = configuration.gatewayURL.contains("?") ? "&" : "?"
        var httpRequest = HTTPClientRequest(url: configuration.gatewayURL + separator + FormCodec.encode(common))
        httpRequest.method = .POST
        httpRequest.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded;charset=utf-8")
        httpRequest.headers.add(name: "Accept", value: "application/json")
        httpRequest.body = .bytes(ByteBuffer(string: FormCodec.encode(parameters)))
        do {
            let response = try await httpClient.execute(httpRequest, timeout: Self.timeAmount(connectTimeout + readTimeout))
            let buffer = try await response.body.collect(upTo: Self.maximumResponseBytes)
            return verifier.outcome(for: R.self, httpStatus: Int(response.status.code), body: Array(buffer.readableBytesView))
        } catch let error as HTTPClientError {
            switch error {
            case .invalidURL, .emptyHost, .emptyScheme:
                return .configurationError("gateway URL '\(configuration.gatewayURL)' is not usable: \(error)")
            case .deadlineExceeded, .connectTimeout, .readTimeout:
                return .retryable("timeout calling \(R.method): \(error)")
            default:
                return .retryable("transport error calling \(R.method): \(error)")
            }
        } catch {
            return .retryable("transport error calling \(R.method): \(error)")
        }
    }

    static func timeAmount(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
