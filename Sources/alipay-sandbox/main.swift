import AlipayKit
import AlipaySandbox
import ArgumentParser
import Configuration
import DaemonSupport
import Foundation
import Logging
import ServiceLifecycle
import SystemPackage

/// `alipay-sandbox`: a local, protocol-faithful Alipay gateway (cashier, notifications, trade.query/close/refund, faults).
struct AlipaySandboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alipay-sandbox",
        abstract: "A local, protocol-faithful Alipay gateway for development, demos and tests.",
        subcommands: [Serve.self, Keys.self, Certs.self],
        defaultSubcommand: Serve.self
    )
}

/// `alipay-sandbox [serve]`: runs the gateway, the cashier, the control API and the notification dispatcher.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the sandbox gateway (flags win over environment variables, which win over the --config file).",
        discussion: """
            Every flag has an environment variable: --app-id is SANDBOX_APP_ID, --time-scale is SANDBOX_TIME_SCALE, and so on
            (key sandbox.appId). Required: app id, seller id, Alipay private key file, app public key file.
            """
    )

    @Option(help: "JSON configuration file (default: $ALIPAY_NOTIFY_CONFIG), keys under \"sandbox\".")
    var config: String?
    @Option(help: "Listen address (SANDBOX_HOST, default 127.0.0.1).")
    var host: String?
    @Option(help: "Listen port (SANDBOX_PORT, default 9090; 0 picks a free port).")
    var port: String?
    @Option(help: "The app_id the gateway accepts (SANDBOX_APP_ID).")
    var appId: String?
    @Option(help: "seller_id in notifications and returns, 2088… (SANDBOX_SELLER_ID).")
    var sellerId: String?
    @Option(help: "seller_email in notifications (SANDBOX_SELLER_EMAIL).")
    var sellerEmail: String?
    @Option(help: "Alipay's private key, PEM or bare base64 (SANDBOX_ALIPAY_PRIVATE_KEY_FILE); make one with `keys`.")
    var alipayPrivateKeyFile: String?
    @Option(help: "The merchant app's public key that verifies requests (SANDBOX_APP_PUBLIC_KEY_FILE).")
    var appPublicKeyFile: String?
    @Option(help: "The app's key type, RSA2 or RSA: requests must use it; answers, notifications and returns are signed with it (SANDBOX_SIGN_TYPE, default RSA2).")
    var signType: String?
    @Option(help: "Divide every scheduled delay by this (SANDBOX_TIME_SCALE, default 1; 10000 makes 4 minutes 24 ms).")
    var timeScale: String?
    @Option(help: "JSON file keeping trades across restarts (SANDBOX_STATE_FILE; default: memory only).")
    var stateFile: String?
    @Option(help: "Faults, e.g. 500:0.2,slow:0.1,badsign:0.1,garbage:0.1,unknown:0.1,escapedslash:0.5,duplicate:0.5,reorder:1,forged:0.2,gbk:0.5,drop:3 (SANDBOX_FAULTS).")
    var faults: String?
    @Option(help: "Seed of the fault draws, for repeatable runs (SANDBOX_FAULT_SEED).")
    var faultSeed: String?
    @Option(help: "Real seconds a `slow` gateway answer waits, more than the client's read timeout (SANDBOX_SLOW_SECONDS, default 15).")
    var slowSeconds: String?
    @Option(help: "Turn paid trades TRADE_FINISHED, with a notification, this many (scaled) seconds after payment (SANDBOX_FINISH_AFTER_SECONDS).")
    var finishAfterSeconds: String?
    @Option(help: "Real seconds to wait for the merchant's answer to a notification (SANDBOX_NOTIFY_TIMEOUT_SECONDS, default 5).")
    var notifyTimeoutSeconds: String?
    @Option(help: "Certificate mode: the directory `certs` wrote (SANDBOX_CERT_DIR); requests must carry app_cert_sn and alipay_root_cert_sn.")
    var certDir: String?
    @Option(help: "AES content encryption key file, base64 (SANDBOX_ENCRYPT_KEY_FILE): encrypted requests are answered encrypted.")
    var encryptKeyFile: String?
    @Option(help: "true: refuse requests whose biz_content is not encrypted (SANDBOX_REQUIRE_ENCRYPTION, default false).")
    var requireEncryption: String?
    @Option(help: "true: today's statement may be downloaded too (tests and demos; Alipay makes a day's the next morning) (SANDBOX_BILLS_INCLUDE_TODAY).")
    var billsIncludeToday: String?

    func run() async throws {
        let program = "alipay-sandbox"
        let reader = await configReader(program: program)
        let configuration: SandboxConfiguration
        do throws(SandboxError) {
            configuration = try SandboxConfiguration.load(from: reader)
        } catch {
            DaemonBootstrap.fail(program, error.description)
        }
        let level = reader.string(forKey: "log.level")?.lowercased() ?? "info"
        let format = reader.string(forKey: "log.format")?.lowercased() ?? "text"
        guard Logger.Level(rawValue: level) != nil else { DaemonBootstrap.fail(program, "log.level (LOG_LEVEL): \"\(level)\" is not a log level") }
        DaemonBootstrap.bootstrapLogging(label: program, level: level, format: format)
        let logger = Logger(label: program)

        let sandbox: Sandbox
        do throws(SandboxError) {
            sandbox = try Sandbox(configuration: configuration, logger: logger)
        } catch {
            DaemonBootstrap.fail(program, error.description)
        }
        let notifier = SystemdNotifier()
        let dispatcher = NotificationDispatcher(sandbox: sandbox, logger: Logger(label: "\(program).notify"))
        let app = SandboxApplication.make(
            sandbox: sandbox,
            onServerRunning: { channel in
                logger.info(
                    "alipay-sandbox listening",
                    metadata: [
                        "address": "\(channel.localAddress?.description ?? "?")", "gateway": "/gateway.do", "app_id": "\(configuration.appId)",
                        "seller_id": "\(configuration.sellerId)", "time_scale": "\(configuration.timeScale)",
                        "faults": "\(configuration.faults.spec)", "state_file": "\(configuration.stateFile ?? "(memory)")",
                    ])
                notifier.ready()
            },
            logger: Logger(label: "\(program).http"))

        // Shutdown runs in reverse order: the HTTP server stops taking requests first, then the dispatcher
        // finishes the attempts in flight.
        await DaemonBootstrap.run(
            program,
            [
                .init(service: dispatcher, serviceName: "notification dispatcher"),
                .init(service: app, serviceName: "http"),
            ],
            logger: logger)
    }

    /// Flags first, then the environment, then the JSON file: the same keys whichever source sets them.
    private func configReader(program: String) async -> ConfigReader {
        let flags: [(String, String?)] = [
            ("sandbox.host", host), ("sandbox.port", port), ("sandbox.appId", appId), ("sandbox.sellerId", sellerId),
            ("sandbox.sellerEmail", sellerEmail), ("sandbox.alipayPrivateKeyFile", alipayPrivateKeyFile),
            ("sandbox.appPublicKeyFile", appPublicKeyFile), ("sandbox.signType", signType), ("sandbox.timeScale", timeScale),
            ("sandbox.stateFile", stateFile), ("sandbox.faults", faults), ("sandbox.faultSeed", faultSeed),
            ("sandbox.slowSeconds", slowSeconds), ("sandbox.finishAfterSeconds", finishAfterSeconds),
            ("sandbox.notifyTimeoutSeconds", notifyTimeoutSeconds), ("sandbox.certDir", certDir),
            ("sandbox.encryptKeyFile", encryptKeyFile), ("sandbox.requireEncryption", requireEncryption),
            ("sandbox.billsIncludeToday", billsIncludeToday),
        ]
        var values: [AbsoluteConfigKey: ConfigValue] = [:]
        for case let (key, value?) in flags {
            values[AbsoluteConfigKey(ConfigKey(key))] = ConfigValue(.string(value), isSecret: false)
        }
        var providers: [any ConfigProvider] = [InMemoryProvider(name: "flags", values: values), EnvironmentVariablesProvider()]
        if let path = config ?? ProcessInfo.processInfo.environment["ALIPAY_NOTIFY_CONFIG"], !path.isEmpty {
            guard FileManager.default.isReadableFile(atPath: path) else {
                DaemonBootstrap.fail(program, "configuration file \(path): cannot be read (does it exist, and may this user read it?)")
            }
            do {
                providers.append(try await FileProvider<JSONSnapshot>(filePath: FilePath(path)))
            } catch {
                DaemonBootstrap.fail(program, "configuration file \(path): not a valid JSON object of settings (\(error))")
            }
        }
        return ConfigReader(providers: providers)
    }
}

/// `alipay-sandbox keys --dir DIR`: makes the "Alipay" key pair the sandbox signs with.
struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write Alipay's key pair for the sandbox: alipay_private_key.pem, alipay_public_key.pem, alipay_public_key.txt (bare base64)."
    )

    @Option(help: "Directory to write the keys into (created when missing).")
    var dir: String
    @Flag(help: "Replace an existing key pair.")
    var force = false

    func run() throws {
        let paths: [String]
        do throws(SandboxError) {
            paths = try SandboxKeys.generate(into: dir, force: force)
        } catch {
            DaemonBootstrap.fail("alipay-sandbox", error.description)
        }
        for path in paths { print("wrote \(path)") }
        print(
            """

            The sandbox signs with \(paths[0]) (SANDBOX_ALIPAY_PRIVATE_KEY_FILE).
            The merchant verifies with \(paths[1]) or the bare base64 in \(paths[2]) (ALIPAY_PUBLIC_KEY_FILE).
            """)
    }
}

/// `alipay-sandbox certs --dir DIR`: the certificate-mode files, as the Alipay console hands them out.
struct Certs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a certificate-mode set: alipayRootCert.crt, alipayCertPublicKey_RSA2.crt, appCertPublicKey_<appId>.crt, and the sandbox's CA (sandbox-ca.crt, sandbox-ca.key).",
        discussion: """
            A root CA (plus an ECDSA root, skipped by alipay_root_cert_sn as Alipay's SM2 root is), an issuing CA, "Alipay's"
            certificate for the sandbox's key and the app's certificate for the merchant's key. Run the sandbox with
            --cert-dir DIR; give the merchant the three .crt files (alipay.appCertFile, alipay.certFile, alipay.rootCertFile).
            """
    )

    @Option(help: "Directory to write the certificates into (created when missing).")
    var dir: String
    @Option(help: "The app_id the app certificate is issued to.")
    var appId: String
    @Option(help: "The sandbox's (Alipay's) private key file: its public key goes into alipayCertPublicKey_RSA2.crt.")
    var alipayPrivateKeyFile: String
    @Option(help: "The merchant app's public key file: it goes into appCertPublicKey_<appId>.crt.")
    var appPublicKeyFile: String
    @Flag(help: "Replace existing certificates.")
    var force = false

    func run() throws {
        let paths: [String]
        do {
            let alipayKey = try RSAPrivateKey(contentsOfFile: alipayPrivateKeyFile, role: .alipayPrivateKey).publicKey
            let appKey = try RSAPublicKey(contentsOfFile: appPublicKeyFile, role: .appPublicKey)
            paths = try SandboxCertificates.write(into: dir, appId: appId, alipayKey: alipayKey, appKey: appKey, force: force)
        } catch {
            DaemonBootstrap.fail("alipay-sandbox", "\(error)")
        }
        for path in paths { print("wrote \(path)") }
        print(
            """

            The sandbox runs with --cert-dir \(dir) (SANDBOX_CERT_DIR).
            The merchant configures ALIPAY_APP_CERT_FILE=\(paths[2])
                                   ALIPAY_CERT_FILE=\(paths[1])
                                   ALIPAY_ROOT_CERT_FILE=\(paths[0])
            and no ALIPAY_PUBLIC_KEY_FILE.
            """)
    }
}

/// Runs the command through the `async` entry point; at top level the synchronous overload would be chosen.
func runAlipaySandbox() async {
    await AlipaySandboxCommand.main()
}

await runAlipaySandbox()
