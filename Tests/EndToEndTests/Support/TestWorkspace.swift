import AlipayKit
import Foundation
import StoreTestSupport

/// A scratch folder for one test: fresh key files, a database path, and the environment the executables read.
///
/// Keys are real 2048-bit RSA pairs made with AlipayKit: the app's pair (it signs requests) and a stand-in
/// for Alipay's pair (it signs notifications; the daemons get only its public key).
struct TestWorkspace {
    /// The app id every workspace configures.
    static let appId = "2021000000000001"
    /// The seller id every workspace configures.
    static let sellerId = "2088000000000001"

    /// Keys made once per test process: RSA generation is slow in debug builds and the pairs need not differ.
    static let keys: (app: RSAPrivateKey, alipay: RSAPrivateKey) = {
        do {
            return (try RSAPrivateKey.generate(), try RSAPrivateKey.generate())
        } catch {
            fatalError("cannot generate RSA test keys: \(error)")
        }
    }()

    /// The folder; removed by ``remove()``.
    let directory: URL
    /// The app's private key (signs requests to Alipay).
    var appKey: RSAPrivateKey { Self.keys.app }
    /// Alipay's stand-in private key (signs notifications and return URLs).
    var alipayKey: RSAPrivateKey { Self.keys.alipay }
    /// The SQLite file of an SQLite workspace.
    var databasePath: String { directory.appendingPathComponent("var/alipay-notify.sqlite").path }
    /// `store.url` the executables get: the SQLite file above unless the workspace was made for another store.
    var storeURL: String
    /// Drops the workspace's PostgreSQL database, if it has one.
    var removeStore: @Sendable () -> Void = {}

    /// A workspace on a fresh store of `engine`; nil (with the reason printed, or a failure under CI) when that
    /// engine cannot run here.
    static func make(name: String, engine: TestEngine) throws -> TestWorkspace? {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("alipay-notify-store-\(UUID().uuidString.prefix(8))")
        guard let (url, remove) = try engine.freshLocationOrReport(folder: folder) else { return nil }
        var workspace = try TestWorkspace(name: name, storeURL: engine == .sqlite ? nil : url)
        workspace.removeStore = remove
        return workspace
    }

    /// Creates the folder and writes the key files; `storeURL` nil means the workspace's own SQLite file.
    init(name: String = "e2e", storeURL: String? = nil) throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("alipay-notify-\(name)-\(UUID().uuidString.prefix(8))")
        self.storeURL = storeURL ?? "sqlite:" + directory.appendingPathComponent("var/alipay-notify.sqlite").path
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("keys"), withIntermediateDirectories: true)
        try appKey.pemRepresentation.write(to: file("keys/app_private_key.pem"), atomically: true, encoding: .utf8)
        try appKey.publicKey.pemRepresentation.write(to: file("keys/app_public_key.pem"), atomically: true, encoding: .utf8)
        try alipayKey.pemRepresentation.write(to: file("keys/alipay_private_key.pem"), atomically: true, encoding: .utf8)
        try alipayKey.publicKey.pemRepresentation.write(to: file("keys/alipay_public_key.pem"), atomically: true, encoding: .utf8)
    }

    /// A path inside the workspace.
    func file(_ relative: String) -> URL { directory.appendingPathComponent(relative) }

    /// The configuration every executable reads, as environment variables (the contract of docs/architecture.md).
    func environment(receiverPort: Int, apiPort: Int, extra: [String: String] = [:]) -> [String: String] {
        var environment = [
            "ALIPAY_APP_ID": Self.appId,
            "ALIPAY_SELLER_ID": Self.sellerId,
            "ALIPAY_APP_PRIVATE_KEY_FILE": file("keys/app_private_key.pem").path,
            "ALIPAY_PUBLIC_KEY_FILE": file("keys/alipay_public_key.pem").path,
            "ALIPAY_GATEWAY_URL": "http://127.0.0.1:9/gateway.do",
            "ALIPAY_NOTIFY_URL": "http://127.0.0.1:\(receiverPort)/alipay/notify",
            "ALIPAY_RETURN_URL": "http://127.0.0.1:\(receiverPort)/alipay/return",
            "STORE_URL": storeURL,
            "RECEIVER_HOST": "127.0.0.1",
            "RECEIVER_PORT": "\(receiverPort)",
            "API_HOST": "127.0.0.1",
            "API_PORT": "\(apiPort)",
            // Off unless a test asks for it: the default 8082 is the port the README's dev stack (and the walkthrough
            // test, running alongside) listens on, and a worker started here with it made the walkthrough's worker fail.
            "WORKER_METRICS_PORT": "0",
        ]
        environment.merge(extra) { $1 }
        return environment
    }

    /// Deletes the folder (call at the end of a passing test; a failing one may keep it for its logs).
    func remove() {
        try? FileManager.default.removeItem(at: directory)
        removeStore()
    }
}
