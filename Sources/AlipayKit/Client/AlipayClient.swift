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
        self.verifier = ResponseVerifier(
            alipayPublicKey: configuration.alipayPublicKey, signType: configuration.signType, encryptionKey: configuration.encryptionKey)
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
    /// repeated in the query string as the official SDKs send them. Both copies carry identical values. In
    /// certificate mode an answer signed by an Alipay certificate not seen before is verified with that certificate
    /// once it is fetched and found to chain to the configured roots (``adoptRotatedCertificate(sn:)``).
    public func execute<R: AlipayRequest>(_ request: R) async -> GatewayOutcome<R.Response> {
        let answer: (status: Int, body: [UInt8])
        switch await send(request) {
        case .failure(let failure): return failure.outcome()
        case .success(let success): answer = success
        }
        guard let keyring = configuration.certificates else {
            return verifier.outcome(for: R.self, httpStatus: answer.status, body: answer.body)
        }
        // Certificate mode: the key of the certificate the answer names (the current one when it names none), never
        // the one this client was made with, which a rotation may have replaced since.
        let certificate: AlipayCertificate
        if let sn = ResponseVerifier.alipayCertSN(in: answer.body) {
            if let known = keyring.certificate(sn: sn) {
                certificate = known
            } else {
                // The SN comes from an answer nothing has verified yet: whatever goes wrong adopting it is transient
                // for the job (retried, dead-lettered only when its attempts run out), never a configuration error.
                guard CertificateSN.isWellFormed(sn) else {
                    return .retryable("malformed response: alipay_cert_sn is not 32 lowercase hex digits")
                }
                if let recent = keyring.recentFailure(sn: sn) {
                    return .retryable("the answer names Alipay certificate \(sn), which could not be adopted a moment ago: \(recent)")
                }
                switch await adoptRotatedCertificate(sn: sn) {
                case .failure(let failure):
                    keyring.recordFailure(sn: sn, reason: failure.reason)
                    return .retryable("the answer names Alipay certificate \(sn), which could not be adopted: \(failure.reason)")
                case .success(let fetched): certificate = fetched
                }
            }
        } else {
            certificate = keyring.current
        }
        let verifier = ResponseVerifier(alipayPublicKey: certificate.publicKey, signType: configuration.signType, encryptionKey: configuration.encryptionKey)
        return verifier.outcome(for: R.self, httpStatus: answer.status, body: answer.body)
    }

    /// Fetches the Alipay certificate `sn` with `alipay.open.app.alipaycert.download` and trusts it for every later call
    /// of this process only when it is that SN; names the same subject and issuer as the configured Alipay
    /// certificate (a certificate of the same CA issued to someone else — the app's own, another merchant's — chains
    /// just as well); is not a CA and not the app's key; chains to the configured roots and is valid now; and the
    /// download's own answer verifies with it. Anything else fails closed: the operator installs a new certificate by
    /// hand.
    public func adoptRotatedCertificate(sn: String) async -> Result<AlipayCertificate, CallFailure> {
        guard let keyring = configuration.certificates else {
            return .failure(.configuration("alipay_cert_sn \(sn) in an answer, but certificate mode is not configured"))
        }
        let answer: (status: Int, body: [UInt8])
        switch await send(AlipayCertDownload(alipayCertSN: sn)) {
        case .failure(let failure): return .failure(failure)
        case .success(let success): answer = success
        }
        let what = "Alipay's certificate changed to SN \(sn) and"
        // The answer is signed with the new certificate: read it first, trust it only once it chains to the roots.
        let unverified = ResponseVerifier(alipayPublicKey: keyring.current.publicKey, signType: configuration.signType, encryptionKey: configuration.encryptionKey)
        guard let content = unverified.unverifiedNode(AlipayCertDownload.self, body: answer.body)?.alipayCertContent,
            let pemData = Data(base64Encoded: content), let pem = String(data: pemData, encoding: .utf8)
        else {
            // Nothing is trusted from a refusal: it only says why there is no certificate (signed, if at all, by a key
            // we do not hold yet), so it is reported as Alipay worded it.
            let context = "\(what) alipay.open.app.alipaycert.download did not answer it"
            if let status = unverified.unverifiedStatus(AlipayCertDownload.self, body: answer.body), status.code != "10000" {
                let detail = [status.code, status.subCode, status.subMsg ?? status.msg].compactMap { $0 }.joined(separator: " ")
                return .failure(.configuration("\(context): \(detail)"))
            }
            let outcome = unverified.outcome(for: AlipayCertDownload.self, httpStatus: answer.status, body: answer.body)
            return .failure(.from(outcome, context: context))
        }
        let certificate: AlipayCertificate
        do throws(CertificateError) {
            certificate = try AlipayCertificate(
                pem: pem, role: .alipayCertificate, minimumBits: configuration.signType == .rsa ? KeyMaterial.legacyMinimumBits : KeyMaterial.minimumBits)
        } catch {
            return .failure(.configuration("\(what) the downloaded certificate is unusable: \(error)"))
        }
        guard certificate.sn == sn else {
            return .failure(.configuration("\(what) the downloaded certificate has SN \(certificate.sn) instead"))
        }
        let configured = keyring.mode.alipayCertificate
        guard certificate.subject == configured.subject, certificate.issuer == configured.issuer else {
            return .failure(
                .configuration(
                    "\(what) the downloaded certificate is \(certificate.subject) issued by \(certificate.issuer), not \(configured.subject) issued by "
                        + "\(configured.issuer): not adopted; if Alipay really changed them, install its certificate as alipay.certFile by hand"))
        }
        guard !certificate.isAuthority, certificate.publicKey.base64DER != keyring.mode.appCertificate.publicKey.base64DER,
            certificate.publicKey.base64DER != configuration.appPrivateKey.publicKey.base64DER
        else {
            return .failure(.configuration("\(what) the downloaded certificate is a CA or carries the app's own key: not adopted"))
        }
        if let problem = await keyring.mode.roots.chainProblem(certificate) {
            return .failure(.configuration("\(what) the downloaded certificate does not chain to alipay.rootCertFile: \(problem)"))
        }
        let verifier = ResponseVerifier(alipayPublicKey: certificate.publicKey, signType: configuration.signType, encryptionKey: configuration.encryptionKey)
        if case .success = verifier.outcome(for: AlipayCertDownload.self, httpStatus: answer.status, body: answer.body) {
            keyring.adopt(certificate)
            return .success(certificate)
        }
        return .failure(.configuration("\(what) the download's answer does not verify with the downloaded certificate"))
    }

    /// Why a call produced no answer to verify, as the outcome the caller reports.
    public enum CallFailure: Error, Sendable {
        /// Our configuration is wrong; retrying will not help.
        case configuration(String)
        /// The outcome is unknown; ask again later.
        case retryable(String)

        /// What went wrong, in words.
        public var reason: String {
            switch self {
            case .configuration(let reason), .retryable(let reason): reason
            }
        }

        static func from<T>(_ outcome: GatewayOutcome<T>, context: String) -> CallFailure {
            switch outcome {
            case .retryable(let reason): return .retryable("\(context): \(reason)")
            case .configurationError(let reason): return .configuration("\(context): \(reason)")
            case .tradeNotExist: return .configuration("\(context): ACQ.TRADE_NOT_EXIST")
            case .rejected(let code, let subCode, let message): return .configuration("\(context): \(code) \(subCode ?? "") \(message)")
            case .success: return .retryable("\(context): an answer without alipay_cert_content")
            }
        }

        func outcome<T>() -> GatewayOutcome<T> {
            switch self {
            case .configuration(let reason): return .configurationError(reason)
            case .retryable(let reason): return .retryable(reason)
            }
        }
    }

    /// Signs and POSTs `request`; the HTTP status and body of the answer, unverified.
    private func send<R: AlipayRequest>(_ request: R) async -> Result<(status: Int, body: [UInt8]), CallFailure> {
        let parameters: [String: String]
        do {
            parameters = try signer.signedParameters(request)
        } catch {
            return .failure(.configuration("cannot sign \(R.method): \(error)"))
        }
        guard let url = URL(string: configuration.gatewayURL), ["http", "https"].contains(url.scheme?.lowercased() ?? ""), url.host != nil else {
            return .failure(.configuration("gateway URL '\(configuration.gatewayURL)' is not an http(s) URL: check alipay.gatewayUrl"))
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
            return .success((Int(response.status.code), Array(buffer.readableBytesView)))
        } catch let error as HTTPClientError {
            switch error {
            case .invalidURL, .emptyHost, .emptyScheme:
                return .failure(.configuration("gateway URL '\(configuration.gatewayURL)' is not usable: \(error)"))
            case .deadlineExceeded, .connectTimeout, .readTimeout:
                return .failure(.retryable("timeout calling \(R.method): \(error)"))
            default:
                return .failure(.retryable("transport error calling \(R.method): \(error)"))
            }
        } catch {
            return .failure(.retryable("transport error calling \(R.method): \(error)"))
        }
    }

    /// `duration` as NIO's `TimeAmount` (what AsyncHTTPClient's timeouts take), to the nanosecond.
    public static func timeAmount(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
