import Foundation
import GRDB
import NotifyStore
import NotifyStoreSQLite
import StoreTestSupport
import Testing

@testable import NotifyCore

/// `store.*` keys: read from the environment like every key, checked, and applied to the database.
@Suite("Store configuration")
struct StoreConfigurationTests {
    @Test("store.cacheMegabytes defaults to 8 MiB for the receiver and 4 for the worker, reads STORE_CACHE_MEGABYTES for both, and sets the writer's page cache")
    func cacheMegabytes() async throws {
        let unset = try await NotifyConfiguration.load(environment: [:])
        #expect(unset.storeCacheMegabytes == nil)
        #expect(unset.storeCacheMegabytes(for: .receiver) == 8 && unset.storeCacheMegabytes(for: .worker) == 4)
        #expect(SQLiteStore.defaultCacheMegabytes == 8)
        let configuration = try await NotifyConfiguration.load(environment: ["STORE_CACHE_MEGABYTES": "64"])
        #expect(configuration.storeCacheMegabytes(for: .receiver) == 64 && configuration.storeCacheMegabytes(for: .worker) == 64)

        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("store-config-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let database = try SQLiteStore(
            path: folder.appendingPathComponent("db.sqlite").path, cacheMegabytes: configuration.storeCacheMegabytes(for: .receiver))
        let pages = try await database.pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA cache_size") }
        #expect(pages == -64 * 1024, "negative: KiB")
    }

    @Test("a store.cacheMegabytes out of range stops start-up naming the key", arguments: ["1", "65537", "lots"])
    func cacheMegabytesOutOfRange(_ value: String) async throws {
        do {
            _ = try await NotifyConfiguration.load(environment: ["STORE_CACHE_MEGABYTES": value])
            Issue.record("\(value) was accepted")
        } catch {
            #expect(error.description.contains("store.cacheMegabytes"), "\(error)")
            #expect(error.description.contains("STORE_CACHE_MEGABYTES"), "\(error)")
        }
    }
}
