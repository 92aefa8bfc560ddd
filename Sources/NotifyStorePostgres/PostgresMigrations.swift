import Logging
import NotifyStore
import PostgresNIO

/// The store's PostgreSQL schema, as an ordered list of named migrations recorded in `schema_migrations`.
///
/// The names are the SQLite engine's (`v1-initial-schema`, `v2-job-payload`, …), so `notifyctl db migrate` says the
/// same thing whatever the engine. A migration that has shipped is never edited: a change is a new migration at the
/// end. Each migration runs in its own transaction with its `schema_migrations` row (PostgreSQL's DDL is
/// transactional), and the whole run holds a session advisory lock, so several hosts may start at once: the first
/// migrates, the others wait and then find nothing to do.
enum PostgresMigrations {
    /// One named migration: statements run in order inside one transaction.
    struct Migration: Sendable {
        let name: String
        let statements: [String]
    }

    /// `pg_advisory_lock` key that serialises migrations ("alipayno" in ASCII).
    static let advisoryLockKey: Int64 = 0x616c_6970_6179_6e6f

    /// Every migration this build knows, in order.
    static let all: [Migration] = [
        Migration(name: "v1-initial-schema", statements: v1InitialSchema),
        // Open job kinds carry what they need beyond the fixed columns.
        Migration(name: "v2-job-payload", statements: ["ALTER TABLE jobs ADD COLUMN payload text"]),
        // Refused bodies for `notifyctl verify --rejected`: a bounded diagnostic log, not part of the queue.
        Migration(
            name: "v3-rejected-notifications",
            statements: [
                """
                CREATE TABLE rejected_notifications (
                    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    received_at timestamptz NOT NULL,
                    reason      text NOT NULL,
                    detail      text NOT NULL,
                    body        text NOT NULL
                )
                """
            ]),
        // The webhook outbox (docs/webhooks.md): endpoints, the order events written for them, every delivery attempt.
        Migration(name: "v4-webhooks", statements: v4Webhooks),
        // When money last went back to the buyer, on Alipay's clock (gmt_refund).
        Migration(name: "v5-order-refunded-at", statements: ["ALTER TABLE orders ADD COLUMN refunded_at timestamptz"]),
        // One row per refund request; the trigger keeps the refunds that did not fail within the order's amount.
        Migration(name: "v6-refunds", statements: v6Refunds),
        // How the buyer pays: page (PC), wap (mobile browser), qr (precreate), app.
        Migration(
            name: "v7-order-product",
            statements: ["ALTER TABLE orders ADD COLUMN product text NOT NULL DEFAULT 'page' CHECK (product IN ('page', 'wap', 'qr', 'app'))"]),
        // The daily statement's checks, and the day ranges the check reads.
        Migration(
            name: "v8-statement-checks",
            statements: [
                """
                CREATE TABLE statement_checks (
                    bill_date   text PRIMARY KEY,
                    checked_at  timestamptz NOT NULL,
                    rows        integer NOT NULL,
                    report      text NOT NULL
                )
                """,
                // A day's payments (the statement) and recently paid orders (the sweeper): one index; it replaces
                // v6's, which only held TRADE_SUCCESS orders.
                "DROP INDEX IF EXISTS orders_paid_at",
                "CREATE INDEX orders_paid_at_any ON orders(paid_at) WHERE paid_at IS NOT NULL",
                "CREATE INDEX refunds_refunded_at ON refunds(refunded_at) WHERE status = 'succeeded'",
            ]),
        // (v9-job-indexes is SQLite's alone: these indexes were PostgreSQL's from the start.)
        // The receiver's seal on each notification it verified (StoredNotification.seal).
        Migration(name: "v10-notification-seal", statements: ["ALTER TABLE notifications ADD COLUMN seal text"]),
        // Two indexes no query read, written for every notification stored (see SQLite's v11).
        Migration(
            name: "v11-notification-indexes",
            statements: ["DROP INDEX IF EXISTS notifications_out_trade_no", "DROP INDEX IF EXISTS notifications_last_received_at"]),
    ]

    /// Refund requests (docs/refunds.md). The trigger locks the order row first, so two sessions adding refunds to
    /// one order take turns and each sees the other's committed sum (READ COMMITTED reads it after the lock).
    /// `over_refund` and SQLSTATE 23514 are what ``PostgresErrors`` recognises.
    static let v6Refunds = [
        """
        CREATE TABLE refunds (
            id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            out_trade_no   text NOT NULL REFERENCES orders(out_trade_no),
            out_request_no text NOT NULL,
            amount_fen     bigint NOT NULL CHECK (amount_fen > 0),
            reason         text,
            status         text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
            refunded_at    timestamptz,
            fund_change    boolean,
            failure        text,
            created_at     timestamptz NOT NULL,
            updated_at     timestamptz NOT NULL,
            UNIQUE (out_trade_no, out_request_no)
        )
        """,
        "CREATE INDEX refunds_pending ON refunds(created_at) WHERE status = 'pending'",
        // The sweeper asks Alipay about recently paid orders (a lost refund notification).
        "CREATE INDEX orders_paid_at ON orders(paid_at) WHERE status = 'TRADE_SUCCESS'",
        """
        CREATE FUNCTION refunds_within_amount() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            order_total bigint;
            others bigint;
        BEGIN
            IF NEW.status = 'failed' THEN
                RETURN NEW;
            END IF;
            -- A taken request number is the unique constraint's to refuse (a duplicate, not an over-refund).
            IF TG_OP = 'INSERT' AND EXISTS (
                SELECT 1 FROM refunds WHERE out_trade_no = NEW.out_trade_no AND out_request_no = NEW.out_request_no
            ) THEN
                RETURN NEW;
            END IF;
            SELECT total_amount_fen INTO order_total FROM orders WHERE out_trade_no = NEW.out_trade_no FOR UPDATE;
            SELECT COALESCE(sum(amount_fen), 0) INTO others FROM refunds
            WHERE out_trade_no = NEW.out_trade_no AND status <> 'failed' AND id IS DISTINCT FROM NEW.id;
            IF order_total IS NOT NULL AND others + NEW.amount_fen > order_total THEN
                RAISE EXCEPTION 'over_refund: the refunds of order % would exceed its amount', NEW.out_trade_no
                    USING ERRCODE = 'check_violation';
            END IF;
            RETURN NEW;
        END
        $$
        """,
        """
        CREATE TRIGGER refunds_within_amount BEFORE INSERT OR UPDATE OF status, amount_fen ON refunds
        FOR EACH ROW EXECUTE FUNCTION refunds_within_amount()
        """,
    ]

    /// The names of the migrations this build knows, in order.
    static var known: [String] { all.map(\.name) }

    static let createMigrationsTable = """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            name       text PRIMARY KEY,
            applied_at timestamptz NOT NULL DEFAULT now()
        )
        """

    /// The migrations this build knows and the database has not applied. Throws `StoreError.schemaTooNew` when the
    /// database has applied migrations this build does not know. Reads only: no lock, nothing created.
    static func pending(on connection: PostgresConnection, logger: Logger) async throws -> [String] {
        let exists = try await connection.query("SELECT to_regclass('schema_migrations') IS NOT NULL", logger: logger)
            .collect().first?.decode(Bool.self) ?? false
        guard exists else { return known }
        return try await pending(applied: applied(on: connection, logger: logger))
    }

    /// Applies the pending migrations under the advisory lock and returns their names (empty when up to date).
    ///
    /// Lock, migrations and unlock happen on the one connection given (advisory locks belong to a session). The
    /// session's `statement_timeout` is lifted meanwhile: waiting for another host's migration is not a stuck query.
    static func migrate(on connection: PostgresConnection, logger: Logger) async throws -> [String] {
        // Every host starts with this: when nothing is pending (the usual start), no lock is taken, so hosts starting
        // together do not queue behind each other. A schema newer than this build is refused here too.
        guard try await !pending(on: connection, logger: logger).isEmpty else { return [] }
        try await connection.query("SET statement_timeout = 0", logger: logger)
        do {
            try await connection.query("SELECT pg_advisory_lock(\(advisoryLockKey))", logger: logger)
        } catch {
            _ = try? await connection.query("RESET statement_timeout", logger: logger)
            throw error
        }
        do {
            let applied = try await migrateLocked(on: connection, logger: logger)
            try await unlock(connection, logger: logger)
            return applied
        } catch {
            // A failed statement aborted the migration's transaction: roll it back before unlocking.
            _ = try? await connection.query("ROLLBACK", logger: logger)
            try? await unlock(connection, logger: logger)
            throw error
        }
    }

    private static func unlock(_ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("SELECT pg_advisory_unlock(\(advisoryLockKey))", logger: logger)
        try await connection.query("RESET statement_timeout", logger: logger)
    }

    private static func migrateLocked(on connection: PostgresConnection, logger: Logger) async throws -> [String] {
        try await connection.query(PostgresQuery(unsafeSQL: createMigrationsTable), logger: logger)
        let todo = try await pending(applied: applied(on: connection, logger: logger))
        for name in todo {
            let migration = all.first { $0.name == name }!
            logger.info("applying PostgreSQL migration", metadata: ["migration": "\(name)"])
            try await connection.query("BEGIN", logger: logger)
            for statement in migration.statements {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            }
            try await connection.query("INSERT INTO schema_migrations (name, applied_at) VALUES (\(name), now())", logger: logger)
            try await connection.query("COMMIT", logger: logger)
        }
        return todo
    }

    private static func applied(on connection: PostgresConnection, logger: Logger) async throws -> Set<String> {
        var names: Set<String> = []
        for try await name in try await connection.query("SELECT name FROM schema_migrations", logger: logger).decode(String.self) {
            names.insert(name)
        }
        return names
    }

    private static func pending(applied: Set<String>) throws -> [String] {
        let unknown = applied.subtracting(known).sorted()
        guard unknown.isEmpty else { throw StoreError.schemaTooNew(found: unknown, known: known) }
        return known.filter { !applied.contains($0) }
    }

    /// SQLite's v4 translated: endpoints keyed by their public id, events and attempts with identity ids.
    static let v4Webhooks: [String] = [
        // Where order events go. event_types is comma-separated; '' means every type.
        """
        CREATE TABLE webhook_endpoints (
            endpoint_id                text PRIMARY KEY,
            url                        text NOT NULL,
            event_types                text NOT NULL DEFAULT '',
            note                       text,
            secret                     text NOT NULL,
            previous_secret            text,
            previous_secret_expires_at timestamptz,
            enabled                    boolean NOT NULL DEFAULT true,
            disabled_reason            text,
            failing_since              timestamptz,
            created_at                 timestamptz NOT NULL,
            updated_at                 timestamptz NOT NULL
        )
        """,
        // One row per order event, written in the transaction of the change it reports.
        """
        CREATE TABLE webhook_events (
            id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            event_id       text NOT NULL UNIQUE,
            type           text NOT NULL,
            out_trade_no   text NOT NULL,
            sequence       bigint NOT NULL CHECK (sequence > 0),
            order_event_id bigint REFERENCES order_events (id),
            payload        text NOT NULL,
            created_at     timestamptz NOT NULL,
            UNIQUE (out_trade_no, sequence)
        )
        """,
        // An order change is reported once.
        "CREATE UNIQUE INDEX webhook_events_order_event_id ON webhook_events (order_event_id) WHERE order_event_id IS NOT NULL",
        "CREATE INDEX webhook_events_created_at ON webhook_events (created_at)",
        // The answer of every delivery attempt. endpoint_id is not a foreign key: removing an endpoint keeps its
        // history; job_id neither: attempts outlive pruned jobs.
        """
        CREATE TABLE delivery_attempts (
            id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            event_id    text NOT NULL REFERENCES webhook_events (event_id),
            endpoint_id text NOT NULL,
            job_id      bigint,
            attempt     integer NOT NULL,
            status      integer,
            response    text,
            error       text,
            duration_ms integer NOT NULL,
            at          timestamptz NOT NULL
        )
        """,
        "CREATE INDEX delivery_attempts_event_endpoint ON delivery_attempts (event_id, endpoint_id, id)",
    ]

    /// SQLite's v1 translated: identity ids (never reused after pruning), timestamptz dates, boolean flags, the same
    /// CHECK constraints, unique keys and foreign keys. The queue table keeps free space in its pages and is vacuumed
    /// often, since every claim and completion rewrites its rows.
    static let v1InitialSchema: [String] = [
        // Alipay notifications exactly as received, one row per notify_id.
        """
        CREATE TABLE notifications (
            id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            notify_id         text NOT NULL UNIQUE,
            out_trade_no      text NOT NULL,
            trade_status      text NOT NULL,
            body              text NOT NULL,
            first_received_at timestamptz NOT NULL,
            last_received_at  timestamptz NOT NULL,
            delivery_count    integer NOT NULL DEFAULT 1 CHECK (delivery_count >= 1)
        )
        """,
        "CREATE INDEX notifications_out_trade_no ON notifications (out_trade_no)",
        "CREATE INDEX notifications_last_received_at ON notifications (last_received_at)",

        // The durable queue.
        """
        CREATE TABLE jobs (
            id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            kind             text NOT NULL,
            state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'running', 'done', 'dead')),
            unique_key       text,
            out_trade_no     text,
            notification_id  bigint REFERENCES notifications (id),
            notify_id        text,
            attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            run_at           timestamptz NOT NULL,
            lease_owner      text,
            lease_expires_at timestamptz,
            last_error       text,
            created_at       timestamptz NOT NULL,
            updated_at       timestamptz NOT NULL,
            -- A lease exists exactly while the job runs.
            CHECK ((state = 'running') = (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL))
        ) WITH (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.01, autovacuum_analyze_scale_factor = 0.02)
        """,
        // Claim reads these two partial indexes only: due pending jobs in order, and running jobs by lease expiry.
        "CREATE INDEX jobs_pending_run_at ON jobs (run_at, id) WHERE state = 'pending'",
        "CREATE INDEX jobs_running_lease ON jobs (lease_expires_at) WHERE state = 'running'",
        // Enqueue is idempotent on unique_key among live jobs; done and dead jobs do not block a new one.
        "CREATE UNIQUE INDEX jobs_live_unique_key ON jobs (unique_key) WHERE state IN ('pending', 'running')",
        "CREATE INDEX jobs_state_kind ON jobs (state, kind)",
        "CREATE INDEX jobs_out_trade_no ON jobs (out_trade_no)",
        "CREATE INDEX jobs_notification_id ON jobs (notification_id)",
        "CREATE INDEX jobs_done_updated_at ON jobs (updated_at) WHERE state = 'done'",
        // state and kind are far from independent (most pending jobs may be of a kind rare in the whole table):
        // without these statistics a claim filtered by kind is planned on jobs_state_kind and sorts every pending job
        // of that kind instead of walking jobs_pending_run_at in order.
        "CREATE STATISTICS jobs_state_kind_stats (mcv) ON state, kind FROM jobs",

        // How each attempt ended. Replay keeps these; only pruning a done job removes its history.
        """
        CREATE TABLE job_attempts (
            id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            job_id  bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
            attempt integer NOT NULL,
            owner   text,
            outcome text NOT NULL CHECK (outcome IN ('done', 'retry', 'dead', 'lease_expired', 'released', 'replayed')),
            error   text,
            at      timestamptz NOT NULL
        )
        """,
        "CREATE INDEX job_attempts_job_id ON job_attempts (job_id, id)",

        // Orders. Money is integer fen.
        """
        CREATE TABLE orders (
            out_trade_no     text PRIMARY KEY,
            subject          text NOT NULL,
            total_amount_fen bigint NOT NULL CHECK (total_amount_fen > 0),
            status           text NOT NULL
                             CHECK (status IN ('CREATED', 'WAIT_BUYER_PAY', 'TRADE_SUCCESS', 'TRADE_FINISHED', 'TRADE_CLOSED')),
            trade_no         text,
            refunded_fen     bigint NOT NULL DEFAULT 0 CHECK (refunded_fen >= 0 AND refunded_fen <= total_amount_fen),
            needs_review     boolean NOT NULL DEFAULT false,
            review_reason    text,
            created_at       timestamptz NOT NULL,
            updated_at       timestamptz NOT NULL,
            paid_at          timestamptz,
            closed_at        timestamptz
        )
        """,
        "CREATE INDEX orders_status_created_at ON orders (status, created_at)",
        "CREATE INDEX orders_needs_review ON orders (updated_at) WHERE needs_review",

        // One row per status change. job_id is not a foreign key: events outlive pruned jobs.
        """
        CREATE TABLE order_events (
            id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            out_trade_no text NOT NULL REFERENCES orders (out_trade_no),
            from_status  text,
            to_status    text NOT NULL,
            source       text NOT NULL,
            job_id       bigint,
            notify_id    text,
            detail       text,
            created_at   timestamptz NOT NULL
        )
        """,
        "CREATE INDEX order_events_out_trade_no ON order_events (out_trade_no, id)",

        // /readyz commits here to prove the database takes writes.
        """
        CREATE TABLE store_heartbeat (
            id integer PRIMARY KEY CHECK (id = 1),
            at timestamptz NOT NULL
        )
        """,
    ]
}
