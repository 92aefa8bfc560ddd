import AlipayKit
import AlipaySandbox
import Configuration
import Foundation
import Testing

/// Configuration keys, their environment names, defaults, and one clear error naming a missing or broken key.
@Suite struct ConfigurationTests {
    /// Writes the sandbox's key files and returns the base environment.
    private func environment(in directory: URL) throws -> [String: String] {
        let privatePath = directory.appendingPathComponent("alipay_private_key.pem").path
        let publicPath = directory.appendingPathComponent("app_public_key.pem").path
        try Fixtures.alipayKey.pemRepresentation.write(toFile: privatePath, atomically: true, encoding: .utf8)
        try Fixtures.appKey.publicKey.base64DER.write(toFile: publicPath, atomically: true, encoding: .utf8)
        return [
            "SANDBOX_APP_ID": Fixtures.appId, "SANDBOX_SELLER_ID": Fixtures.sellerId,
            "SANDBOX_ALIPAY_PRIVATE_KEY_FILE": privatePath, "SANDBOX_APP_PUBLIC_KEY_FILE": publicPath,
        ]
    }

    private func load(_ environment: [String: String]) throws(SandboxError) -> SandboxConfiguration {
        try SandboxConfiguration.load(from: ConfigReader(providers: [EnvironmentVariablesProvider(environmentVariables: environment)]))
    }

    @Test func environmentNamesFollowSwiftConfiguration() {
        #expect(ConfigurationKey("sandbox.appId").environment == "SANDBOX_APP_ID")
        #expect(ConfigurationKey("sandbox.alipayPrivateKeyFile").environment == "SANDBOX_ALIPAY_PRIVATE_KEY_FILE")
        #expect(ConfigurationKey("sandbox.alipayPrivateKeyFile").flag == "--alipay-private-key-file")
        #expect(SandboxConfiguration.keys.map(\.environment).contains("SANDBOX_FAULT_SEED"))
    }

    @Test func defaultsAndEnvironmentValues() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var env = try environment(in: directory)
        let defaults = try load(env)
        #expect(defaults.host == "127.0.0.1" && defaults.port == 9090 && defaults.timeScale == 1)
        #expect(defaults.stateFile == nil && defaults.faults == FaultConfiguration() && defaults.finishAfter == nil)
        #expect(defaults.appId == Fixtures.appId && defaults.sellerId == Fixtures.sellerId)
        #expect(defaults.appPublicKey.base64DER == Fixtures.appKey.publicKey.base64DER)

        env["SANDBOX_HOST"] = "0.0.0.0"
        env["SANDBOX_PORT"] = "9191"
        env["SANDBOX_TIME_SCALE"] = "10000"
        env["SANDBOX_STATE_FILE"] = "/tmp/state.json"
        env["SANDBOX_FAULTS"] = "500:0.2,slow:0.1,badsign:0.1,garbage:0.1"
        env["SANDBOX_FAULT_SEED"] = "7"
        env["SANDBOX_SLOW_SECONDS"] = "20"
        env["SANDBOX_FINISH_AFTER_SECONDS"] = "60"
        let configured = try load(env)
        #expect(configured.host == "0.0.0.0" && configured.port == 9191 && configured.timeScale == 10000)
        #expect(configured.stateFile == "/tmp/state.json")
        #expect(configured.faults.http500 == 0.2 && configured.faults.garbage == 0.1 && configured.faults.seed == 7)
        #expect(configured.faults.slowSeconds == 20)
        #expect(configured.finishAfter == .seconds(60))
        #expect(configured.retrySchedule.delay(afterFailedAttempt: 1) == .milliseconds(24))
    }

    @Test(arguments: ["SANDBOX_APP_ID", "SANDBOX_SELLER_ID", "SANDBOX_ALIPAY_PRIVATE_KEY_FILE", "SANDBOX_APP_PUBLIC_KEY_FILE"])
    func missingRequiredKeyIsNamed(_ variable: String) throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var env = try environment(in: directory)
        env[variable] = nil
        #expect {
            _ = try load(env)
        } throws: { error in
            guard case .missingConfiguration(_, let environment, _) = error as? SandboxError else { return false }
            return environment == variable && "\(error)".contains(variable) && !"\(error)".contains("\n")
        }
    }

    @Test func unreadableOrWrongKeyFileIsNamedWithoutKeyMaterial() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var env = try environment(in: directory)
        env["SANDBOX_APP_PUBLIC_KEY_FILE"] = directory.appendingPathComponent("missing.pem").path
        #expect(throws: SandboxError.self) { try load(env) }
        do {
            _ = try load(env)
        } catch {
            #expect(error.description.contains("sandbox.appPublicKeyFile"))
        }
        var swapped = try environment(in: directory)
        swapped["SANDBOX_ALIPAY_PRIVATE_KEY_FILE"] = swapped["SANDBOX_APP_PUBLIC_KEY_FILE"]
        do {
            _ = try load(swapped)
            Issue.record("a public key was accepted as Alipay's private key")
        } catch {
            #expect(error.description.contains("sandbox.alipayPrivateKeyFile"))
            #expect(!error.description.contains(Fixtures.appKey.publicKey.base64DER.prefix(40)))
        }
    }

    @Test(arguments: [("SANDBOX_PORT", "http"), ("SANDBOX_TIME_SCALE", "0"), ("SANDBOX_FAULTS", "500:2"), ("SANDBOX_FAULT_SEED", "-1")])
    func invalidValuesAreNamed(_ variable: String, _ value: String) throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var env = try environment(in: directory)
        env[variable] = value
        do {
            _ = try load(env)
            Issue.record("\(variable)=\(value) was accepted")
        } catch {
            let key = SandboxConfiguration.keys.first { $0.environment == variable }!.key
            #expect(error.description.contains(key))
        }
    }
}
