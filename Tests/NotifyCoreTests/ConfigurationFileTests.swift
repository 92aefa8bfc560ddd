import Foundation
import NotifyCore
import NotifyStore
import Testing

/// The configuration file: typos are named, broken JSON is one line that says where, store.url is parsed strictly.
@Suite("configuration file and store.url")
struct ConfigurationFileTests {
    func write(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("config-\(UUID().uuidString).json").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("an unknown key is a warning naming the nearest known key; known keys are read")
    func unknownKeyWarns() async throws {
        let path = try write(#"{"alipay": {"appId": "2021000000000001", "sellerID": "2088"}, "worker": {"concurency": 3}, "sandbox": {"port": 1}}"#)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let configuration = try await NotifyConfiguration.load(configFile: path, environment: [:])
        #expect(configuration.alipay.appId == "2021000000000001")
        #expect(configuration.warnings.count == 2, "\(configuration.warnings)")
        #expect(configuration.warnings.contains { $0.contains(#"unknown key "alipay.sellerID""#) && $0.contains(#"did you mean "alipay.sellerId"?"#) })
        #expect(configuration.warnings.contains { $0.contains(#""worker.concurency""#) && $0.contains(#""worker.concurrency""#) })
    }

    @Test("invalid JSON is one line naming the file and where it breaks")
    func invalidJSON() async throws {
        let path = try write("{\n  \"alipay\": {\"appId\": \"x\",}\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try await NotifyConfiguration.load(configFile: path, environment: [:])
            Issue.record("loaded invalid JSON")
        } catch {
            #expect(error.description.hasPrefix("configuration file \(path): invalid JSON"), "\(error)")
            #expect(!error.description.contains("\n"))
            #expect(!error.description.contains("NSCocoaErrorDomain"), "\(error)")
        }
    }

    @Test("store.url: sqlite or postgres; STORE_PATH still read; both set and different is an error naming both")
    func storeURL() async throws {
        let postgres = try await NotifyConfiguration.load(environment: ["STORE_URL": "postgres://u:p@db/shop?sslmode=require"])
        #expect(postgres.storeURL.redacted == "postgres://u@db:5432/shop?sslmode=require")
        let legacy = try await NotifyConfiguration.load(environment: ["STORE_PATH": "/var/lib/x.sqlite"])
        #expect(legacy.storeURL == .sqlite(path: "/var/lib/x.sqlite"))
        #expect(try await NotifyConfiguration.load(environment: [:]).storeURL == .sqlite(path: "var/alipay-notify.sqlite"))
        let same = try await NotifyConfiguration.load(environment: ["STORE_URL": "sqlite:///var/lib/x.sqlite", "STORE_PATH": "/var/lib/x.sqlite"])
        #expect(same.storeURL == .sqlite(path: "/var/lib/x.sqlite"), "two spellings of one file are not a disagreement")
        await #expect(throws: ConfigurationError.self) {
            _ = try await NotifyConfiguration.load(environment: ["STORE_URL": "sqlite:/a.sqlite", "STORE_PATH": "/b.sqlite"])
        }
        do {
            _ = try await NotifyConfiguration.load(environment: ["STORE_URL": "postgres://u:Secret1@db/shop?sslmode=maybe"])
            Issue.record("accepted sslmode=maybe")
        } catch {
            #expect(error.description.hasPrefix("store.url (STORE_URL)"), "\(error)")
            #expect(!error.description.contains("Secret1"))
        }
    }
}
