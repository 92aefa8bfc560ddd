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
        guard let (text, remove) = try freshLocationOrReport(folder: folder) else { return }
        defer { remove() }
        let url = try StoreURL(parsing: text)
        var logger = Logger(label: "conformance")
        logger.logLevel = .warning
        try await StoreEngines.withStore(url, logger: logger) { store in try await body(store, url) }
    }
}
