/// Produces signed notification bodies the way Alipay does: what the sandbox and tests use.
public enum NotificationSigner {
    /// Signs `parameters` (adding `sign_type` when absent) and returns the form body, spaces written as '+'.
    ///
    /// When `parameters["charset"]` is GBK the values are signed and percent-encoded as GBK bytes, as Alipay does
    /// for old accounts.
    public static func signedBody(_ parameters: [String: String], key: RSAPrivateKey, signType: SignType = .rsa2) throws -> String {
        var parameters = parameters
        if parameters["sign_type"] == nil { parameters["sign_type"] = signType.rawValue }
        parameters["sign"] = nil
        let pairs = try encodedPairs(parameters)
        let sign = try key.sign(bytes: SignString.bytes(pairs, excluding: SignString.notificationExclusions), type: signType)
        return FormCodec.encode(pairs: pairs + [(Array("sign".utf8), Array(sign.utf8))], spaceAsPlus: true)
    }

    /// Keys and values as bytes in the parameters' own charset.
    static func encodedPairs(_ parameters: [String: String]) throws(FormError) -> [(key: [UInt8], value: [UInt8])] {
        let name = parameters["charset"].flatMap { $0.isEmpty ? nil : $0 } ?? "utf-8"
        guard let charset = Charset(name: name) else {
            throw FormError(.unsupportedCharset, "unsupported charset '\(name)' (expected utf-8 or GBK)")
        }
        var pairs: [(key: [UInt8], value: [UInt8])] = []
        for (key, value) in parameters {
            guard let keyBytes = charset.encode(key), let valueBytes = charset.encode(value) else {
                throw FormError(.badCharsetBytes, "the value of '\(key)' cannot be written in \(charset.rawValue)")
            }
            pairs.append((keyBytes, valueBytes))
        }
        return pairs
    }
}
