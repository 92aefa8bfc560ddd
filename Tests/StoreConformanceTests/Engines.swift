import Foundation
import Logging
import NotifyStore
import NotifyStoreEngines
import StoreTestSupport
import Testing

typealias Engine = TestEngine

extension TestEngine: CustomTestStringConvertible {
    public var testDescription: String { rawValue }
}

extension TestEngine {
    /// Opens a fresh, migrated store of this engine, runs `body`, closes and removes it. An engine that is not
    /// available prints why (a failure under CI, so CI can never pass without exercising PostgreSQL).
    func withFreshStore(_ body: (any Store, StoreURL) async throws -> Void) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("conformance-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let location = try freshLocation(folder: folder)
        guard case .available(let text, let remove) = location else {
            if case .unavailable(let reason) = location { Self.unavailable(self, reason) }
            return
        }
        defer { remove() }
        let url = try StoreURL(parsing: text)
        var logger = Logger(label: "conformance")
        logger.logLevel = .warning
        let store = try await StoreEngines.open(url, logger: logger)
        do {
            try await body(store, url)
        } catch {
            await store.close()
            throw error
        }
        await store.close()
    }

    /// Reports an engine that cannot run here: a failure in CI, a printed reason elsewhere.
    static func unavailable(_ engine: TestEngine, _ reason: String) {
        if isCI {
            Issue.record("CI: the \(engine) engine must run, but \(reason)")
        } else {
            print("skipped on \(engine): \(reason)")
        }
    }
}
