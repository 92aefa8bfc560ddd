import Foundation
import Logging
import NotifyStore
import NotifyStoreEngines

/// Reads what the daemons committed, through the store contract from a connection of its own (as an operator would
/// after a crash), whichever engine the workspace uses.
enum StoreInspector {
    /// Stored notifications by `notify_id`.
    static func notifications(in workspace: TestWorkspace) async throws -> [String: StoredNotification] {
        try await withStore(workspace) { store in
            var all: [StoredNotification] = []
            var after: StoreCopyKey?
            while true {
                let key = after
                let page = try await store.read { db in try db.page(.notifications, after: key, limit: 10_000) }
                guard case .notifications(let rows) = page, !rows.isEmpty else { break }
                all += rows
                after = page.lastKey
            }
            return Dictionary(all.map { ($0.notifyId, $0) }, uniquingKeysWith: { first, _ in first })
        }
    }

    /// Jobs of one kind.
    static func jobs(in workspace: TestWorkspace, kind: JobKind) async throws -> [Job] {
        try await withStore(workspace) { store in
            try await store.read { db in try db.jobs(state: nil, kind: kind, outTradeNo: nil, limit: 1_000_000) }.reversed()
        }
    }

    private static func withStore<T>(_ workspace: TestWorkspace, _ body: (any Store) async throws -> T) async throws -> T {
        var logger = Logger(label: "inspector")
        logger.logLevel = .warning
        return try await StoreEngines.withStore(try StoreURL(parsing: workspace.storeURL), options: .init(migrate: false), logger: logger, body)
    }
}
