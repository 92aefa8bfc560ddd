import AlipayKit
import Configuration
import Foundation
import NotifyStore
import SystemPackage
import Synchronization

/// Everything the executables read from the configuration contract of docs/architecture.md.
///
/// Values come from environment variables first (`alipay.appId` is `ALIPAY_APP_ID`), then the JSON file
/// named by `--config FILE` or `ALIPAY_NOTIFY_CONFIG` (nested objects: `{"alipay": {"appId": "…"}}`),
/// then the defaults below. Every value is read as a string and parsed here, so a bad value is a
/// ``ConfigurationError`` naming the key rather than a silent fallback to the default.
public struct NotifyConfiguration: Sendable {
    /// The merchant's Alipay account and keys (`alipay.*`).
    public struct Alipay: Sendable {
        public var appId: String?
        public var gatewayURL: String = "https://openapi.alipay.com/gateway.do"
        public var signType: SignType = .rsa2
        public var appPrivateKeyFile: String?
        public var publicKeyFile: String?
        /// Certificate mode (公钥证书模式): `appCertPublicKey_<appId>.crt`, `alipayCertPublicKey_RSA2.crt`,
        /// `alipayRootCert.crt`; all three or none, and then no `publicKeyFile`.
        public var appCertFile: String?
        public var certFile: String?
        public var rootCertFile: String?
        /// AES content encryption (接口内容加密): the key from the console, base64.
        public var encryptKeyFile: String?
        public var sellerId: String?
        public var notifyURL: String?
        public var returnURL: String?
        /// How long the worker waits for a gateway answer; past it the outcome is unknown and the job is retried (a
        /// refund with the same `out_request_no`, which Alipay never doubles).
        public var timeoutSeconds = 10.0
        /// `timeoutSeconds` as the read timeout every gateway client of the daemons and notifyctl is given.
        public var timeout: Duration { .milliseconds(Int64(timeoutSeconds * 1000)) }
    }

    /// A host and port to listen on.
    public struct Listener: Sendable {
        public var host: String
        public var port: Int
    }

    /// The worker's knobs (`worker.*`).
    public struct Worker: Sendable {
        public var concurrency = 4
        public var maxAttempts = 10
        public var retryBaseSeconds = 5.0
        public var retryMaxSeconds = 3600.0
        public var leaseSeconds = 60.0
        public var pollMilliseconds = 200
        public var sweepIntervalSeconds = 30.0
        public var reconcileAfterSeconds = 120.0
        /// Paid orders are asked about too (a lost refund notification): the first query this long after payment…
        public var reconcilePaidAfterSeconds = 3600.0
        /// …then on the decaying schedule until this many hours after payment; 0 turns it off.
        public var reconcilePaidForHours = 24.0
        public var confirmWithQuery = false
    }

    /// Order events pushed to the merchant's endpoints (`webhooks.*`, docs/webhooks.md).
    public struct Webhooks: Sendable {
        /// Accept `http://` endpoint URLs (development only; production endpoints are `https://`).
        public var allowInsecureUrls = false
        /// Deliver to addresses on loopback, private or link-local networks (development only).
        public var allowPrivateNetworks = false
        /// Deliveries in flight at once, in their own lane (they never take the worker's slots).
        public var concurrency = 32
        /// Deliveries in flight at once to one endpoint, so a slow one never holds the whole lane.
        public var perEndpointConcurrency = 8
        /// How long one delivery waits for the answer.
        public var timeoutSeconds = 15.0
        /// `timeoutSeconds` as a `Duration`.
        public var timeout: Duration { .milliseconds(Int64(timeoutSeconds * 1000)) }
        /// An endpoint whose every delivery failed for this long is disabled.
        public var disableAfterDays = 5.0
        /// Multiplies the retry schedule (tests and demos shrink it; 1 in production).
        public var retryScale = 1.0
    }

    /// The public listener's protection (`receiver.*` beyond host and port).
    public struct ReceiverLimits: Sendable {
        /// Requests per second allowed per client address; 0 turns the limit off.
        public var rateLimitPerSecond = 0
        /// Trust `X-Forwarded-For` / `X-Real-IP` for the client address (only behind a proxy you run).
        public var trustForwardedFor = false
    }

    public var alipay = Alipay()
    /// `store.url`: `sqlite:PATH` (the default, `sqlite:var/alipay-notify.sqlite`) or `postgres://…`; `store.path`
    /// (`STORE_PATH`) is still read as an SQLite path.
    public var storeURL = StoreURL.defaultStore
    /// `store.cacheMegabytes`: the SQLite page cache of each process's writer connection, in MiB; nil (unset): each
    /// daemon's own default (``StoreDaemon/defaultCacheMegabytes``).
    public var storeCacheMegabytes: Int?

    /// The page cache `daemon` opens its store with: `store.cacheMegabytes` when set, else the daemon's default.
    public func storeCacheMegabytes(for daemon: StoreDaemon) -> Int { storeCacheMegabytes ?? daemon.defaultCacheMegabytes }

    /// Who opens the store, for the defaults that differ between them.
    public enum StoreDaemon: Sendable {
        case receiver, worker

        /// Measured (BENCHMARKS.md, "Memory: the page cache default"): the receiver's enqueue needs the notify_id
        /// index's pages, which 8 MiB holds at 1,000,000 rows of history (4 MiB lost 7 % there); the worker drains as
        /// fast with 4 MiB as with 256.
        public var defaultCacheMegabytes: Int {
            switch self {
            case .receiver: 8
            case .worker: 4
            }
        }
    }

    public var receiver = Listener(host: "127.0.0.1", port: 8080)
    public var receiverLimits = ReceiverLimits()
    public var api = Listener(host: "127.0.0.1", port: 8081)
    /// The worker's loopback `/metrics` listener (`worker.metricsHost`, `worker.metricsPort`; port 0 turns it off).
    public var workerMetrics = Listener(host: "127.0.0.1", port: 8082)
    public var apiToken: String?
    public var worker = Worker()
    public var webhooks = Webhooks()
    public var ordersTimeoutMinutes = 30
    /// The daily statement check (`statements.*`, docs/statements.md).
    public var statements = Statements()

    /// The daily Alipay statement check.
    public struct Statements: Sendable {
        /// The worker checks each day's statement (`statements.enabled`). Off by default: the app needs Alipay's
        /// bill download permission (对账单下载) first, or every day's check would go dead.
        public var enabled = false
        /// From this time of day (China time, `HH:mm`) the worker checks yesterday's statement; Alipay's are ready in
        /// the morning (`statements.timeOfDay`).
        public var timeOfDay = "10:30"
    }
    /// `log.level` (trace … critical, default info) and `log.format` (`text` or `json`).
    public var logLevel = "info"
    /// Keys of the configuration file this version does not know, each with the nearest known key: printed as
    /// warnings by every executable, so a typo is seen instead of silently ignored.
    public var warnings: [String] = []
    public var logFormat = "text"

    public init() {}
}

/// A configuration problem, said in one line that names the key.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension NotifyConfiguration {
    /// The environment variable that sets the configuration file.
    public static let configFileVariable = "ALIPAY_NOTIFY_CONFIG"

    /// Loads the configuration: environment, then the JSON file (`configFile` or `ALIPAY_NOTIFY_CONFIG`), then defaults.
    public static func load(
        configFile: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws(ConfigurationError) -> NotifyConfiguration {
        let (reader, file) = try await makeReader(configFile: configFile, environment: environment)
        let values = ConfigValues(reader: reader)
        var configuration = try NotifyConfiguration(reader: values)
        if let file { configuration.warnings += unknownKeyWarnings(in: file.object, path: file.path, known: values.askedKeys) }
        return configuration
    }

    /// One warning per key of the JSON file at `path` (parsed as `object`) that is not among the `known` keys the
    /// configuration just read (`sandbox.*` keys are alipay-sandbox's own and pass), naming the nearest known key.
    static func unknownKeyWarnings(in object: [String: Any], path: String, known: Set<String>) -> [String] {
        var keys: [String] = []
        func flatten(_ value: Any, _ prefix: String) {
            if let dictionary = value as? [String: Any] {
                for (key, child) in dictionary { flatten(child, prefix.isEmpty ? key : "\(prefix).\(key)") }
            } else {
                keys.append(prefix)
            }
        }
        flatten(object, "")
        return keys.sorted().filter { !known.contains($0) && !$0.hasPrefix("sandbox.") }.map { key in
            let nearest = known.sorted().min { editDistance(key, $0) < editDistance(key, $1) } ?? ""
            return "configuration file \(path): unknown key \"\(key)\" is ignored (did you mean \"\(nearest)\"?)"
        }
    }

    /// The file parsed as a JSON object, or one line saying where it is not.
    static func jsonObject(inFile path: String) throws(ConfigurationError) -> [String: Any] {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ConfigurationError("configuration file \(path): cannot be read (does it exist, and may this user read it?)")
        }
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: data)
        } catch {
            let detail = ((error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String) ?? "not valid JSON"
            throw ConfigurationError("configuration file \(path): invalid JSON: \(detail)")
        }
        guard let object = parsed as? [String: Any] else {
            throw ConfigurationError("configuration file \(path): must hold a JSON object of settings, e.g. {\"alipay\": {\"appId\": \"…\"}}")
        }
        return object
    }

    /// Levenshtein distance, for "did you mean".
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.lowercased()), b = Array(b.lowercased())
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }

    /// The provider chain (environment, then the file) and, when there is a configuration file, the file as parsed by
    /// us (its errors say where the JSON breaks; its keys are checked against the keys the configuration reads).
    static func makeReader(
        configFile: String?, environment: [String: String]
    ) async throws(ConfigurationError) -> (reader: ConfigReader, file: (path: String, object: [String: Any])?) {
        var providers: [any ConfigProvider] = [EnvironmentVariablesProvider(environmentVariables: environment)]
        var file: (path: String, object: [String: Any])?
        if let path = configFile ?? environment[configFileVariable], !path.isEmpty {
            file = (path, try jsonObject(inFile: path))
            do {
                providers.append(try await FileProvider<JSONSnapshot>(filePath: FilePath(path)))
            } catch {
                throw ConfigurationError("configuration file \(path): not a valid JSON object of settings (\(error))")
            }
        }
        return (ConfigReader(providers: providers), file)
    }

    init(reader values: ConfigValues) throws(ConfigurationError) {
        self.init()
        alipay.appId = values.string("alipay.appId")
        alipay.gatewayURL = values.string("alipay.gatewayUrl") ?? alipay.gatewayURL
        if let raw = values.string("alipay.signType") {
            guard let type = SignType(rawValue: raw.uppercased()) else {
                throw ConfigurationError("alipay.signType (ALIPAY_SIGN_TYPE): \"\(raw)\" is not RSA2 or RSA")
            }
            alipay.signType = type
            if type == .rsa {
                warnings.append(
                    "alipay.signType (ALIPAY_SIGN_TYPE) is RSA (SHA1withRSA), the legacy type of old accounts: Alipay recommends RSA2 "
                        + "(SHA256withRSA, 2048-bit keys); switch in the console (接口加签方式) and set ALIPAY_SIGN_TYPE=RSA2")
            }
        }
        alipay.appPrivateKeyFile = values.string("alipay.appPrivateKeyFile")
        alipay.publicKeyFile = values.string("alipay.publicKeyFile")
        alipay.appCertFile = values.string("alipay.appCertFile")
        // Alipay's certificate: `alipay.certFile` (ALIPAY_CERT_FILE, like `alipay.publicKeyFile` ↔
        // ALIPAY_PUBLIC_KEY_FILE), also read as `alipay.alipayCertFile` (ALIPAY_ALIPAY_CERT_FILE). Both are always read
        // (so neither is reported as an unknown key); two different files are a mistake, refused.
        let certFile = values.string("alipay.certFile")
        let alipayCertFile = values.string("alipay.alipayCertFile")
        if let certFile, let alipayCertFile, certFile != alipayCertFile {
            throw ConfigurationError(
                "alipay.certFile (ALIPAY_CERT_FILE) is \(certFile) but its other name alipay.alipayCertFile (ALIPAY_ALIPAY_CERT_FILE) is \(alipayCertFile): set one")
        }
        alipay.certFile = certFile ?? alipayCertFile
        alipay.rootCertFile = values.string("alipay.rootCertFile")
        alipay.encryptKeyFile = values.string("alipay.encryptKeyFile")
        let certificateKeys = ["alipay.appCertFile": alipay.appCertFile, "alipay.certFile": alipay.certFile, "alipay.rootCertFile": alipay.rootCertFile]
        if certificateKeys.values.contains(where: { $0 != nil }) {
            let missing = certificateKeys.filter { $0.value == nil }.keys.sorted()
            guard missing.isEmpty else {
                let names = missing.map { "\($0) (\(ConfigValues.environmentName(of: $0)))" }.joined(separator: ", ")
                throw ConfigurationError("certificate mode needs alipay.appCertFile, alipay.certFile and alipay.rootCertFile together; \(names) not set")
            }
            guard alipay.publicKeyFile == nil else {
                throw ConfigurationError(
                    "alipay.publicKeyFile (ALIPAY_PUBLIC_KEY_FILE) is set together with the certificate files: public key mode and certificate mode exclude each other; unset one")
            }
        }
        alipay.sellerId = values.string("alipay.sellerId")
        alipay.timeoutSeconds = try values.seconds("alipay.timeoutSeconds") ?? alipay.timeoutSeconds
        guard alipay.timeoutSeconds > 0 else { throw ConfigurationError("alipay.timeoutSeconds (ALIPAY_TIMEOUT_SECONDS) must be above 0") }
        alipay.notifyURL = values.string("alipay.notifyUrl")
        alipay.returnURL = values.string("alipay.returnUrl")
        if let url = alipay.notifyURL, url.contains("?") {
            throw ConfigurationError("alipay.notifyUrl (ALIPAY_NOTIFY_URL): must carry no query string of its own (Alipay drops it)")
        }

        let path = values.string("store.path")
        if let url = values.string("store.url") {
            do throws(StoreError) {
                storeURL = try StoreURL(parsing: url)
            } catch {
                guard case .invalidURL(let reason) = error else { throw ConfigurationError("store.url (STORE_URL): \(error)") }
                throw ConfigurationError("store.url (STORE_URL): \(reason)")
            }
            if let path, storeURL != .sqlite(path: path) {
                throw ConfigurationError("store.url (STORE_URL) and store.path (STORE_PATH) are both set and disagree; set only store.url")
            }
        } else if let path {
            storeURL = .sqlite(path: path)
        }
        storeCacheMegabytes = try values.int("store.cacheMegabytes", in: 2...65536) ?? storeCacheMegabytes
        receiver.host = values.string("receiver.host") ?? receiver.host
        receiver.port = try values.int("receiver.port", in: 0...65535) ?? receiver.port
        receiverLimits.rateLimitPerSecond =
            try values.int("receiver.rateLimitPerSecond", in: 0...1_000_000) ?? receiverLimits.rateLimitPerSecond
        receiverLimits.trustForwardedFor = try values.bool("receiver.trustForwardedFor") ?? receiverLimits.trustForwardedFor
        api.host = values.string("api.host") ?? api.host
        api.port = try values.int("api.port", in: 0...65535) ?? api.port
        apiToken = values.string("api.token")
        workerMetrics.host = values.string("worker.metricsHost") ?? workerMetrics.host
        workerMetrics.port = try values.int("worker.metricsPort", in: 0...65535) ?? workerMetrics.port

        worker.concurrency = try values.int("worker.concurrency", in: 1...256) ?? worker.concurrency
        worker.maxAttempts = try values.int("worker.maxAttempts", in: 1...1000) ?? worker.maxAttempts
        worker.retryBaseSeconds = try values.seconds("worker.retryBaseSeconds") ?? worker.retryBaseSeconds
        worker.retryMaxSeconds = try values.seconds("worker.retryMaxSeconds") ?? worker.retryMaxSeconds
        worker.leaseSeconds = try values.seconds("worker.leaseSeconds") ?? worker.leaseSeconds
        worker.pollMilliseconds = try values.int("worker.pollMilliseconds", in: 1...600_000) ?? worker.pollMilliseconds
        worker.sweepIntervalSeconds = try values.seconds("worker.sweepIntervalSeconds") ?? worker.sweepIntervalSeconds
        worker.reconcileAfterSeconds = try values.seconds("worker.reconcileAfterSeconds") ?? worker.reconcileAfterSeconds
        worker.reconcilePaidAfterSeconds = try values.seconds("worker.reconcilePaidAfterSeconds") ?? worker.reconcilePaidAfterSeconds
        worker.reconcilePaidForHours = try values.seconds("worker.reconcilePaidForHours") ?? worker.reconcilePaidForHours
        worker.confirmWithQuery = try values.bool("worker.confirmWithQuery") ?? worker.confirmWithQuery
        if worker.retryMaxSeconds < worker.retryBaseSeconds {
            throw ConfigurationError("worker.retryMaxSeconds (WORKER_RETRY_MAX_SECONDS) must not be below worker.retryBaseSeconds")
        }
        ordersTimeoutMinutes = try values.int("orders.timeoutMinutes", in: 1...(60 * 24 * 15)) ?? ordersTimeoutMinutes
        statements.enabled = try values.bool("statements.enabled") ?? statements.enabled
        statements.timeOfDay = values.string("statements.timeOfDay") ?? statements.timeOfDay
        guard statements.timeOfDay.wholeMatch(of: /([01]\d|2[0-3]):[0-5]\d/) != nil else {
            throw ConfigurationError("statements.timeOfDay (STATEMENTS_TIME_OF_DAY): \"\(statements.timeOfDay)\" is not HH:mm (China time), e.g. 10:30")
        }

        webhooks.allowInsecureUrls = try values.bool("webhooks.allowInsecureUrls") ?? webhooks.allowInsecureUrls
        webhooks.allowPrivateNetworks = try values.bool("webhooks.allowPrivateNetworks") ?? webhooks.allowPrivateNetworks
        webhooks.concurrency = try values.int("webhooks.concurrency", in: 1...1024) ?? webhooks.concurrency
        webhooks.perEndpointConcurrency = try values.int("webhooks.perEndpointConcurrency", in: 1...256) ?? webhooks.perEndpointConcurrency
        webhooks.timeoutSeconds = try values.seconds("webhooks.timeoutSeconds") ?? webhooks.timeoutSeconds
        webhooks.disableAfterDays = try values.seconds("webhooks.disableAfterDays") ?? webhooks.disableAfterDays
        webhooks.retryScale = try values.seconds("webhooks.retryScale") ?? webhooks.retryScale
        guard webhooks.timeoutSeconds > 0, webhooks.retryScale > 0 else {
            throw ConfigurationError("webhooks.timeoutSeconds and webhooks.retryScale must be above 0")
        }

        logLevel = values.string("log.level")?.lowercased() ?? logLevel
        let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
        guard levels.contains(logLevel) else {
            throw ConfigurationError("log.level (LOG_LEVEL): \"\(logLevel)\" is not one of \(levels.joined(separator: ", "))")
        }
        logFormat = values.string("log.format")?.lowercased() ?? logFormat
        guard ["text", "json"].contains(logFormat) else {
            throw ConfigurationError("log.format (LOG_FORMAT): \"\(logFormat)\" is not text or json")
        }
    }

    /// The app id, or the error every executable prints when it is missing.
    public func requireAppId() throws(ConfigurationError) -> String {
        guard let appId = alipay.appId else { throw ConfigurationError.missing("alipay.appId") }
        return appId
    }

    /// The smallest RSA key accepted: 2048 bits for `RSA2`; 1024 for the legacy `RSA` (SHA1withRSA) of old accounts.
    var minimumKeyBits: Int {
        alipay.signType == .rsa ? KeyMaterial.legacyMinimumBits : KeyMaterial.minimumBits
    }

    /// Whether the three certificate files are configured (公钥证书模式).
    public var isCertificateMode: Bool { alipay.certFile != nil }

    /// Alipay's public key: from `alipay.publicKeyFile`, or in certificate mode from `alipay.certFile`.
    public func loadAlipayPublicKey() throws(ConfigurationError) -> RSAPublicKey {
        if isCertificateMode { return try loadAlipayCertificate().publicKey }
        guard let path = alipay.publicKeyFile else { throw ConfigurationError.missing("alipay.publicKeyFile") }
        do {
            return try RSAPublicKey(contentsOfFile: path, role: .alipayPublicKey, minimumBits: minimumKeyBits)
        } catch {
            throw ConfigurationError("alipay.publicKeyFile (ALIPAY_PUBLIC_KEY_FILE): \(error)")
        }
    }

    /// The app's private key, loaded from `alipay.appPrivateKeyFile`.
    public func loadAppPrivateKey() throws(ConfigurationError) -> RSAPrivateKey {
        guard let path = alipay.appPrivateKeyFile else { throw ConfigurationError.missing("alipay.appPrivateKeyFile") }
        do {
            return try RSAPrivateKey(contentsOfFile: path, role: .appPrivateKey, minimumBits: minimumKeyBits)
        } catch {
            throw ConfigurationError("alipay.appPrivateKeyFile (ALIPAY_APP_PRIVATE_KEY_FILE): \(error)")
        }
    }

    /// Alipay's certificate (`alipay.certFile`), as read; nothing checks here that it is not the app's own.
    public func loadAlipayCertificate() throws(ConfigurationError) -> AlipayCertificate {
        try Self.certificate(alipay.certFile, key: "alipay.certFile", role: .alipayCertificate, minimumBits: minimumKeyBits)
    }

    /// The three certificate files, read and checked against each other and the app's private key: the app
    /// certificate must carry the app's public key, and Alipay's certificate must not be the app's own (the most
    /// common mix-up of the files the console hands out).
    public func loadCertificateMode() throws(ConfigurationError) -> CertificateMode {
        let app = try Self.certificate(alipay.appCertFile, key: "alipay.appCertFile", role: .appCertificate, minimumBits: minimumKeyBits)
        let alipayCertificate = try loadAlipayCertificate()
        guard let rootPath = alipay.rootCertFile else { throw ConfigurationError.missing("alipay.rootCertFile") }
        let roots: AlipayRootCertificates
        do {
            roots = try AlipayRootCertificates(contentsOfFile: rootPath)
        } catch {
            throw ConfigurationError("alipay.rootCertFile (ALIPAY_ROOT_CERT_FILE): \(error)")
        }
        let appPublicKey = try loadAppPrivateKey().publicKey
        if alipayCertificate.publicKey.base64DER == appPublicKey.base64DER {
            throw ConfigurationError(
                "alipay.certFile (ALIPAY_CERT_FILE): holds the app's own certificate (\(alipayCertificate.subject)); Alipay's is the file named alipayCertPublicKey_RSA2.crt")
        }
        if app.publicKey.base64DER != appPublicKey.base64DER {
            throw ConfigurationError(
                "alipay.appCertFile (ALIPAY_APP_CERT_FILE): the certificate (\(app.subject)) does not carry the public key of alipay.appPrivateKeyFile; download the app certificate issued for this key (appCertPublicKey_<appId>.crt)")
        }
        return CertificateMode(appCertificate: app, alipayCertificate: alipayCertificate, roots: roots)
    }

    static func certificate(_ path: String?, key: String, role: CertificateRole, minimumBits: Int) throws(ConfigurationError) -> AlipayCertificate {
        guard let path else { throw ConfigurationError.missing(key) }
        do {
            return try AlipayCertificate(contentsOfFile: path, role: role, minimumBits: minimumBits)
        } catch {
            throw ConfigurationError("\(key) (\(ConfigValues.environmentName(of: key))): \(error)")
        }
    }

    /// The AES key of content encryption (`alipay.encryptKeyFile`), nil when not configured.
    public func loadEncryptionKey() throws(ConfigurationError) -> ContentEncryptionKey? {
        guard let path = alipay.encryptKeyFile else { return nil }
        do {
            return try ContentEncryptionKey(contentsOfFile: path)
        } catch {
            throw ConfigurationError("alipay.encryptKeyFile (ALIPAY_ENCRYPT_KEY_FILE): \(error)")
        }
    }

    /// Everything needed to sign requests and verify responses; in certificate mode with a keyring of its own (make
    /// it once per process, so that a rotation learnt by one call serves the others).
    public func alipayConfiguration() throws(ConfigurationError) -> AlipayConfiguration {
        let keyring = isCertificateMode ? AlipayCertificateKeyring(mode: try loadCertificateMode()) : nil
        let alipayPublicKey: RSAPublicKey
        if let keyring { alipayPublicKey = keyring.current.publicKey } else { alipayPublicKey = try loadAlipayPublicKey() }
        return AlipayConfiguration(
            appId: try requireAppId(),
            signType: alipay.signType,
            appPrivateKey: try loadAppPrivateKey(),
            alipayPublicKey: alipayPublicKey,
            gatewayURL: alipay.gatewayURL,
            notifyURL: alipay.notifyURL,
            returnURL: alipay.returnURL,
            certificates: keyring,
            encryptionKey: try loadEncryptionKey()
        )
    }

    /// The verifier the daemons and `notifyctl verify` use for notifications and return URLs.
    ///
    /// With `keyring` (certificate mode: the keyring of the process's ``AlipayConfiguration``), notifications signed with
    /// an Alipay certificate adopted since start-up verify too.
    public func notificationVerifier(keyring: AlipayCertificateKeyring? = nil) throws(ConfigurationError) -> NotificationVerifier {
        // Certificate mode reads the certificate file once: its key verifies, its SN words the diagnosis.
        var certificate: AlipayCertificate?
        if isCertificateMode {
            if let keyring { certificate = keyring.mode.alipayCertificate } else { certificate = try loadAlipayCertificate() }
        }
        let key: RSAPublicKey
        if let certificate { key = certificate.publicKey } else { key = try loadAlipayPublicKey() }
        return NotificationVerifier(
            alipayPublicKey: key, signType: alipay.signType, appId: try requireAppId(), alipayCertSN: certificate?.sn,
            keyring: certificate == nil ? nil : keyring)
    }
}

extension ConfigurationError {
    /// The error for a required key that is not set, naming the key and its environment variable.
    public static func missing(_ key: String) -> ConfigurationError {
        ConfigurationError("\(key) (\(ConfigValues.environmentName(of: key))) is required but not set")
    }
}

/// Reads raw strings through a `ConfigReader` and parses them with errors that name the key.
public struct ConfigValues: Sendable {
    public let reader: ConfigReader
    private let asked = AskedKeys()

    public init(reader: ConfigReader) { self.reader = reader }

    /// Every key read so far: what a configuration file may hold (anything else in it is a typo or a newer key).
    public var askedKeys: Set<String> { asked.keys.withLock { $0 } }

    /// The environment variable for a key: `alipay.appPrivateKeyFile` → `ALIPAY_APP_PRIVATE_KEY_FILE`.
    public static func environmentName(of key: String) -> String {
        var name = ""
        var previous: Character?
        for character in key {
            if character == "." {
                name.append("_")
            } else {
                if let previous, previous.isLowercase, character.isUppercase { name.append("_") }
                name.append(contentsOf: character.uppercased())
            }
            previous = character
        }
        return name
    }

    /// A string value; an empty string counts as unset. JSON numbers and booleans are read as their text.
    public func string(_ key: String) -> String? {
        asked.keys.withLock { _ = $0.insert(key) }
        let configKey = ConfigKey(key)
        if let value = reader.string(forKey: configKey) { return value.isEmpty ? nil : value }
        if let value = reader.int(forKey: configKey) { return String(value) }
        if let value = reader.double(forKey: configKey) { return String(value) }
        if let value = reader.bool(forKey: configKey) { return String(value) }
        return nil
    }

    /// An integer within `range`.
    public func int(_ key: String, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int? {
        guard let raw = string(key) else { return nil }
        guard let value = Int(raw.trimmingCharacters(in: .whitespaces)), range.contains(value) else {
            throw ConfigurationError(
                "\(key) (\(Self.environmentName(of: key))): \"\(raw)\" is not a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    /// A non-negative number of seconds (fractions allowed).
    public func seconds(_ key: String) throws(ConfigurationError) -> Double? {
        guard let raw = string(key) else { return nil }
        guard let value = Double(raw.trimmingCharacters(in: .whitespaces)), value.isFinite, value >= 0 else {
            throw ConfigurationError("\(key) (\(Self.environmentName(of: key))): \"\(raw)\" is not a number of seconds")
        }
        return value
    }

    /// A boolean: true/false, yes/no, 1/0, on/off.
    public func bool(_ key: String) throws(ConfigurationError) -> Bool? {
        guard let raw = string(key) else { return nil }
        switch raw.lowercased() {
        case "true", "yes", "1", "on": return true
        case "false", "no", "0", "off": return false
        default:
            throw ConfigurationError("\(key) (\(Self.environmentName(of: key))): \"\(raw)\" is not true or false")
        }
    }
}

/// The keys a ``ConfigValues`` was asked for.
final class AskedKeys: Sendable {
    let keys = Mutex<Set<String>>([])
}
