import AlipayKit
import Configuration
import Foundation

/// Everything the sandbox needs to run: where it listens, who it is to the merchant, its keys, timing and faults.
public struct SandboxConfiguration: Sendable {
    /// Listen address (`sandbox.host`).
    public var host = "127.0.0.1"
    /// Listen port (`sandbox.port`); 0 picks a free one.
    public var port = 9090
    /// The one `app_id` the gateway accepts (`sandbox.appId`).
    public var appId: String
    /// `seller_id` put in notifications and returns (`sandbox.sellerId`), 2088 and 12 digits.
    public var sellerId: String
    /// `seller_email` put in notifications (`sandbox.sellerEmail`).
    public var sellerEmail = "sandbox-seller@example.com"
    /// Alipay's private key: signs responses, notifications and return parameters (`sandbox.alipayPrivateKeyFile`).
    public var alipayPrivateKey: RSAPrivateKey
    /// The merchant application's public key: verifies requests (`sandbox.appPublicKeyFile`).
    public var appPublicKey: RSAPublicKey
    /// The app's key type at Alipay (`sandbox.signType`): a request with another `sign_type` fails verification, and
    /// every answer, notification and return is signed with it.
    public var signType: SignType = .rsa2
    /// Divides every scheduled delay (retries, TRADE_FINISHED); 10 000 turns 4 minutes into 24 ms (`sandbox.timeScale`).
    public var timeScale: Double = 1
    /// JSON file that keeps trades across restarts (`sandbox.stateFile`); nil keeps state in memory only.
    public var stateFile: String?
    /// Faults to inject from the start (`sandbox.faults`, `sandbox.faultSeed`, `sandbox.slowSeconds`).
    public var faults = FaultConfiguration()
    /// A paid trade becomes TRADE_FINISHED, with its own notification, this long (scaled) after payment
    /// (`sandbox.finishAfterSeconds`); nil never.
    public var finishAfter: Duration?
    /// How long the sandbox waits for the merchant's answer to a notification, real time (`sandbox.notifyTimeoutSeconds`).
    public var notifyTimeout: Duration = .seconds(5)
    /// Certificate mode: the directory `alipay-sandbox certs` wrote (`sandbox.certDir`); every request must then carry
    /// the app's and the roots' SNs, and answers carry `alipay_cert_sn`.
    public var certDir: String?
    /// The AES key of content encryption (`sandbox.encryptKeyFile`): encrypted requests are decrypted and answered
    /// encrypted.
    public var encryptionKey: ContentEncryptionKey?
    /// Refuse requests whose `biz_content` is not encrypted (`sandbox.requireEncryption`), as an app that switched
    /// content encryption on in the console.
    public var requireEncryption = false
    /// Serve today's statement too (`sandbox.billsIncludeToday`): tests and demos need one for trades paid now; Alipay
    /// answers `isp.bill_not_exist` until the next morning.
    public var billsIncludeToday = false

    /// A configuration with defaults for everything but identity and keys.
    public init(appId: String, sellerId: String, alipayPrivateKey: RSAPrivateKey, appPublicKey: RSAPublicKey) {
        self.appId = appId
        self.sellerId = sellerId
        self.alipayPrivateKey = alipayPrivateKey
        self.appPublicKey = appPublicKey
    }

    /// The retry schedule at this configuration's time scale.
    public var retrySchedule: RetrySchedule { RetrySchedule(timeScale: timeScale) }

    /// Every key the sandbox reads, with its environment variable and command-line flag.
    public static let keys: [ConfigurationKey] = [
        "sandbox.host", "sandbox.port", "sandbox.appId", "sandbox.sellerId", "sandbox.sellerEmail",
        "sandbox.alipayPrivateKeyFile", "sandbox.appPublicKeyFile", "sandbox.signType", "sandbox.timeScale",
        "sandbox.stateFile", "sandbox.faults", "sandbox.faultSeed", "sandbox.slowSeconds", "sandbox.finishAfterSeconds",
        "sandbox.notifyTimeoutSeconds", "sandbox.certDir", "sandbox.encryptKeyFile", "sandbox.requireEncryption", "sandbox.billsIncludeToday",
    ].map(ConfigurationKey.init)

    /// Reads the configuration; a missing required key or an unreadable key file throws a `SandboxError` naming the key.
    public static func load(from config: ConfigReader) throws(SandboxError) -> SandboxConfiguration {
        let reader = KeyReader(config: config)
        let appId = try reader.required("sandbox.appId")
        let sellerId = try reader.required("sandbox.sellerId")
        let privateKeyPath = try reader.required("sandbox.alipayPrivateKeyFile")
        let publicKeyPath = try reader.required("sandbox.appPublicKeyFile")
        let privateKey: RSAPrivateKey
        do {
            privateKey = try RSAPrivateKey(contentsOfFile: privateKeyPath, role: .alipayPrivateKey)
        } catch {
            throw .invalidConfiguration(key: "sandbox.alipayPrivateKeyFile", problem: error.description)
        }
        let publicKey: RSAPublicKey
        do {
            publicKey = try RSAPublicKey(contentsOfFile: publicKeyPath, role: .appPublicKey)
        } catch {
            throw .invalidConfiguration(key: "sandbox.appPublicKeyFile", problem: error.description)
        }
        var configuration = SandboxConfiguration(appId: appId, sellerId: sellerId, alipayPrivateKey: privateKey, appPublicKey: publicKey)
        if let host = reader.optional("sandbox.host") { configuration.host = host }
        if let port = try reader.integer("sandbox.port", in: 0...65_535) { configuration.port = port }
        if let email = reader.optional("sandbox.sellerEmail") { configuration.sellerEmail = email }
        if let signType = reader.optional("sandbox.signType") {
            guard let parsed = SignType(rawValue: signType.uppercased()) else {
                throw .invalidConfiguration(key: "sandbox.signType", problem: "\"\(signType)\" is neither RSA2 nor RSA")
            }
            configuration.signType = parsed
        }
        if let scale = try reader.number("sandbox.timeScale") {
            guard scale > 0 else { throw .invalidConfiguration(key: "sandbox.timeScale", problem: "must be greater than 0") }
            configuration.timeScale = scale
        }
        configuration.stateFile = reader.optional("sandbox.stateFile")
        let slowSeconds = try reader.number("sandbox.slowSeconds") ?? 15
        var seed: UInt64?
        if let text = reader.optional("sandbox.faultSeed") {
            guard let value = UInt64(text) else {
                throw .invalidConfiguration(key: "sandbox.faultSeed", problem: "\"\(text)\" is not a non-negative integer")
            }
            seed = value
        }
        do {
            configuration.faults = try FaultConfiguration(spec: reader.optional("sandbox.faults") ?? "", slowSeconds: slowSeconds, seed: seed)
        } catch {
            throw .invalidConfiguration(key: "sandbox.faults", problem: error.description)
        }
        if let finish = try reader.number("sandbox.finishAfterSeconds") {
            guard finish >= 0 else { throw .invalidConfiguration(key: "sandbox.finishAfterSeconds", problem: "must not be negative") }
            configuration.finishAfter = .milliseconds(Int64(finish * 1000))
        }
        if let timeout = try reader.number("sandbox.notifyTimeoutSeconds") {
            guard timeout > 0 else { throw .invalidConfiguration(key: "sandbox.notifyTimeoutSeconds", problem: "must be greater than 0") }
            configuration.notifyTimeout = .milliseconds(Int64(timeout * 1000))
        }
        configuration.certDir = reader.optional("sandbox.certDir")
        if let path = reader.optional("sandbox.encryptKeyFile") {
            do {
                configuration.encryptionKey = try ContentEncryptionKey(contentsOfFile: path)
            } catch {
                throw .invalidConfiguration(key: "sandbox.encryptKeyFile", problem: error.description)
            }
        }
        if let text = reader.optional("sandbox.requireEncryption") {
            guard let value = Bool(text.lowercased()) else {
                throw .invalidConfiguration(key: "sandbox.requireEncryption", problem: "\"\(text)\" is not true or false")
            }
            guard !value || configuration.encryptionKey != nil else {
                throw .invalidConfiguration(key: "sandbox.requireEncryption", problem: "needs sandbox.encryptKeyFile")
            }
            configuration.requireEncryption = value
        }
        if let text = reader.optional("sandbox.billsIncludeToday") {
            guard let value = Bool(text.lowercased()) else {
                throw .invalidConfiguration(key: "sandbox.billsIncludeToday", problem: "\"\(text)\" is not true or false")
            }
            configuration.billsIncludeToday = value
        }
        return configuration
    }
}

/// Reads values as text whatever the provider stored (environment strings, JSON numbers), with key-naming errors.
private struct KeyReader {
    let config: ConfigReader

    func optional(_ key: String) -> String? {
        let configKey = ConfigKey(key)
        let text = config.string(forKey: configKey) ?? config.int(forKey: configKey).map(String.init)
            ?? config.double(forKey: configKey).map { String($0) }
        guard let text = text?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        return text
    }

    func required(_ key: String) throws(SandboxError) -> String {
        guard let value = optional(key) else {
            let names = ConfigurationKey(key)
            throw .missingConfiguration(key: key, environment: names.environment, flag: names.flag)
        }
        return value
    }

    func integer(_ key: String, in range: ClosedRange<Int>) throws(SandboxError) -> Int? {
        guard let text = optional(key) else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw .invalidConfiguration(key: key, problem: "\"\(text)\" is not an integer in \(range.lowerBound)…\(range.upperBound)")
        }
        return value
    }

    func number(_ key: String) throws(SandboxError) -> Double? {
        guard let text = optional(key) else { return nil }
        guard let value = Double(text), value.isFinite else {
            throw .invalidConfiguration(key: key, problem: "\"\(text)\" is not a number")
        }
        return value
    }
}
