import Foundation

/// Verifies a gateway response over the raw `<method>_response` text and classifies it.
public struct ResponseVerifier: Sendable {
    /// Alipay's public key.
    public let alipayPublicKey: RSAPublicKey
    /// The configured `sign_type`.
    public let signType: SignType
    /// The AES key of content encryption: an encrypted node is verified as it came (quoted ciphertext), then decrypted.
    public let encryptionKey: ContentEncryptionKey?

    /// Codes and sub-codes that mean our configuration is wrong: retrying will not help.
    static let configurationCodes: Set<String> = ["40001", "40002", "40006", "20001"]
    static let configurationSubCodes: Set<String> = ["ACQ.INVALID_PARAMETER"]
    /// Codes and sub-codes that mean "try again later".
    static let retryableCodes: Set<String> = ["20000"]
    static let retryableSubCodes: Set<String> = ["ACQ.SYSTEM_ERROR", "isp.unknow-error", "aop.ACQ.SYSTEM_ERROR"]

    /// Creates a verifier.
    public init(alipayPublicKey: RSAPublicKey, signType: SignType = .rsa2, encryptionKey: ContentEncryptionKey? = nil) {
        self.alipayPublicKey = alipayPublicKey
        self.signType = signType
        self.encryptionKey = encryptionKey
    }

    /// The `alipay_cert_sn` beside the response node (certificate mode), nil when absent or not a string.
    public static func alipayCertSN(in body: [UInt8]) -> String? {
        guard let text = String(validating: body, as: UTF8.self), let raw = ResponseExtractor.rawNode(named: "alipay_cert_sn", in: text) else {
            return nil
        }
        return JSONString.decode(raw)
    }

    /// The name of the member that holds a method's response: `alipay.trade.query` → `alipay_trade_query_response`.
    public static func responseKey(method: String) -> String {
        method.replacingOccurrences(of: ".", with: "_") + "_response"
    }

    /// Classifies one HTTP exchange: only a 10000 whose signature verifies is a success.
    public func outcome<R: AlipayRequest>(for _: R.Type, httpStatus: Int, body: [UInt8]) -> GatewayOutcome<R.Response> {
        switch httpStatus {
        case 200..<300: break
        case 500..<600, 408, 429: return .retryable("HTTP \(httpStatus) from the gateway")
        default: return .configurationError("HTTP \(httpStatus) from the gateway: check alipay.gatewayUrl")
        }
        guard let text = String(validating: body, as: UTF8.self) else { return .retryable("malformed response: not UTF-8") }
        guard let members = ResponseExtractor.topLevelMembers(text) else {
            return .retryable("malformed response: not a JSON object (\(body.count) bytes)")
        }
        let responseKey = Self.responseKey(method: R.method)
        let nodeKey = members.contains { $0.key == responseKey } ? responseKey : "error_response"
        let nodes = members.filter { $0.key == nodeKey }
        guard nodes.count == 1 else {
            return .retryable(nodes.isEmpty ? "malformed response: neither \(responseKey) nor error_response" : "malformed response: \(nodeKey) appears more than once")
        }
        let raw = text[nodes[0].value]
        let signProblem = signatureProblem(raw: raw, members: members, in: text, nodeKey: nodeKey)
        var node = String(raw)
        if raw.first == "\"" {
            // Content encryption: the node is the quoted base64 ciphertext, signed as it came, decrypted after.
            guard let encryptionKey else {
                // Only an answer Alipay signed says our configuration lacks the key; anything else is just malformed.
                if let signProblem { return .retryable("malformed response: \(nodeKey) is a string, not an object (\(signProblem))") }
                return .configurationError("the answer to \(R.method) is encrypted (AES content encryption) but alipay.encryptKeyFile is not set")
            }
            guard let ciphertext = JSONString.decode(raw) else { return .retryable("malformed response: \(nodeKey) is not a JSON string") }
            do throws(ContentDecryptionError) {
                node = try encryptionKey.decrypt(ciphertext)
            } catch {
                if let signProblem { return .retryable("\(signProblem) (and \(nodeKey) does not decrypt: \(error))") }
                return .configurationError("the signed answer to \(R.method) does not decrypt: \(error)")
            }
        }
        let data = Data(node.utf8)
        guard node.first == "{", let status = try? JSONDecoder().decode(GatewayStatus.self, from: data) else {
            return .retryable("malformed response: \(nodeKey) is not an object with a code")
        }
        let summary = "\(status.code)\(status.subCode.map { " \($0)" } ?? ""): \(status.subMsg ?? status.msg ?? "")"

        if status.code == "10000" && nodeKey == responseKey {
            if let signProblem { return .retryable(signProblem) }
            do {
                return .success(try JSONDecoder().decode(R.Response.self, from: data))
            } catch {
                return .retryable("malformed response: \(nodeKey) does not decode (\(Self.describe(error)))")
            }
        }
        if Self.configurationCodes.contains(status.code) || status.subCode.map(Self.configurationSubCodes.contains) == true {
            return .configurationError(summary)
        }
        if Self.retryableCodes.contains(status.code) || status.subCode.map(Self.retryableSubCodes.contains) == true {
            return .retryable(summary)
        }
        // A business answer only counts when Alipay signed it.
        if let signProblem { return .retryable("\(signProblem) (\(summary))") }
        if status.subCode == "ACQ.TRADE_NOT_EXIST" { return .tradeNotExist }
        return .rejected(code: status.code, subCode: status.subCode, message: status.subMsg ?? status.msg ?? "")
    }

    /// The decoded `<method>_response` without checking its signature: only for an answer whose trust comes from
    /// elsewhere (a downloaded certificate is trusted by its chain, and only then is the answer verified with it).
    func unverifiedNode<R: AlipayRequest>(_: R.Type, body: [UInt8]) -> R.Response? {
        guard let text = String(validating: body, as: UTF8.self),
            let raw = ResponseExtractor.rawNode(named: Self.responseKey(method: R.method), in: text)
        else { return nil }
        var node = String(raw)
        if raw.first == "\"" {
            guard let encryptionKey, let ciphertext = JSONString.decode(raw), let plaintext = try? encryptionKey.decrypt(ciphertext) else { return nil }
            node = plaintext
        }
        return try? JSONDecoder().decode(R.Response.self, from: Data(node.utf8))
    }

    /// `code`, `sub_code` and messages of an answer (its method's node or `error_response`), unverified.
    func unverifiedStatus<R: AlipayRequest>(_: R.Type, body: [UInt8]) -> GatewayStatus? {
        guard let text = String(validating: body, as: UTF8.self) else { return nil }
        let raw = ResponseExtractor.rawNode(named: Self.responseKey(method: R.method), in: text) ?? ResponseExtractor.rawNode(named: "error_response", in: text)
        guard let raw, raw.first == "{" else { return nil }
        return try? JSONDecoder().decode(GatewayStatus.self, from: Data(raw.utf8))
    }

    /// nil when `sign` verifies over the raw node text (or over it with `\/` unescaped, as the Java SDK retries).
    private func signatureProblem(raw: Substring, members: [(key: Substring, value: Range<String.Index>)], in text: String, nodeKey: String) -> String? {
        let signs = members.filter { $0.key == "sign" }
        guard signs.count == 1 else { return signs.isEmpty ? "unsigned \(nodeKey)" : "malformed response: sign appears more than once" }
        guard let sign = JSONString.decode(text[signs[0].value]), let signature = Data(base64Encoded: sign)
        else { return "the sign of \(nodeKey) is not a base64 string" }
        if alipayPublicKey.isValidSignature(raw: signature, forBytes: Array(raw.utf8), type: signType) { return nil }
        if ByteSearch.contains(raw, "\\/") {
            let unescaped = raw.replacingOccurrences(of: "\\/", with: "/")
            if alipayPublicKey.isValidSignature(raw: signature, forBytes: Array(unescaped.utf8), type: signType) { return nil }
        }
        return "the signature of \(nodeKey) does not verify with the Alipay public key"
    }

    private static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        switch error {
        case .keyNotFound(let key, _): return "missing \(key.stringValue)"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}

/// Reads one JSON string literal (quotes included) into its value.
enum JSONString {
    static func decode(_ raw: Substring) -> String? {
        guard raw.first == "\"" else { return nil }
        return try? JSONDecoder().decode([String].self, from: Data("[\(raw)]".utf8)).first
    }
}

/// Produces gateway response bodies the way Alipay does: what the sandbox uses.
public enum ResponseSigner {
    /// `{"<method_with_underscores>_response":<responseJSON>,"sign":"…"}`, signed over `responseJSON` exactly.
    /// With `alipayCertSN` (certificate mode) the SN of the signing certificate follows `sign`; with `encryptionKey`
    /// the node is the quoted base64 ciphertext of `responseJSON`, and the signature covers that quoted text.
    public static func body(
        method: String, responseJSON: String, key: RSAPrivateKey, signType: SignType = .rsa2, alipayCertSN: String? = nil,
        encryptionKey: ContentEncryptionKey? = nil
    ) throws -> String {
        let node = try encryptionKey.map { "\"\(try $0.encrypt(responseJSON))\"" } ?? responseJSON
        let sign = try key.sign(node, type: signType)
        let certSN = alipayCertSN.map { ",\"alipay_cert_sn\":\"\($0)\"" } ?? ""
        return "{\"\(ResponseVerifier.responseKey(method: method))\":\(node),\"sign\":\"\(sign)\"\(certSN)}"
    }

    /// `{"error_response":<responseJSON>}`, unsigned, as Alipay answers requests it cannot attribute to an app.
    public static func errorBody(method: String, responseJSON: String) -> String {
        "{\"error_response\":\(responseJSON)}"
    }
}
