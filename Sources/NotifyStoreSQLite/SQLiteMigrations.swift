import GRDB

/// The store's schema, as an ordered list of named migrations.
///
/// A migration that has shipped is never edited: a schema change is a new migration appended at the end
/// (`v2-…`). A database that has applied a migration missing from this list was upgraded by a newer build,
/// and `SQLiteStore` refuses to run against it.
///
/// Dates are stored as GRDB writes them, `YYYY-MM-DD HH:MM:SS.SSS` in UTC, so they compare correctly as text.
enum SQLiteMigrations {
    /// The migrator with every migration this build knows.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-initial-schema") { db in
            try db.execute(sql: v1InitialSchema)
        }
        migrator.registerMigration("v2-job-payload") { db in
            // Open job kinds carry what they need beyond the fixed columns.
            try db.execute(sql: "ALTER TABLE jobs ADD COLUMN payload TEXT")
        }
        migrator.registerMigration("v3-rejected-notifications") { db in
            // Refused bodies for `notifyctl verify --rejected`: a bounded diagnostic log, not part of the queue.
            try db.execute(
                sql: """
                    CREATE TABLE rejected_notifications (
                        id          INTEGER PRIMARY KEY AUTOINCREMENT,
                        received_at TEXT NOT NULL,
                        reason      TEXT NOT NULL,
                        detail      TEXT NOT NULL,
                        body        TEXT NOT NULL
                    )
                    """)
        }
        migrator.registerMigration("v4-webhooks") { db in
            try db.execute(sql: v4Webhooks)
        }
        // When money last went back to the buyer, on Alipay's clock (gmt_refund).
        migrator.registerMigration("v5-order-refunded-at") { db in
            try db.execute(sql: "ALTER TABLE orders ADD COLUMN refunded_at TEXT")
        }
        // One row per refund request; the triggers keep the refunds that did not fail within the order's amount.
        migrator.registerMigration("v6-refunds") { db in
            try db.execute(sql: v6Refunds)
        }
        // How the buyer pays: page (PC), wap (mobile browser), qr (precreate), app.
        migrator.registerMigration("v7-order-product") { db in
            try db.execute(
                sql: "ALTER TABLE orders ADD COLUMN product TEXT NOT NULL DEFAULT 'page' CHECK (product IN ('page', 'wap', 'qr', 'app'))")
        }
        // The daily statement's checks, and the day ranges the check reads.
        migrator.registerMigration("v8-statement-checks") { db in
            try db.execute(
                sql: """
                    CREATE TABLE statement_checks (
                        bill_date   TEXT PRIMARY KEY,
                        checked_at  TEXT NOT NULL,
                        rows        INTEGER NOT NULL,
                        report      TEXT NOT NULL  -- the differences, a JSON array
                    );
                    -- A day's payments (the statement) and recently paid orders (the sweeper): one index, written
                    -- once per payment; it replaces v6's, which only held TRADE_SUCCESS orders.
                    DROP INDEX IF EXISTS orders_paid_at;
                    CREATE INDEX orders_paid_at_any ON orders(paid_at) WHERE paid_at IS NOT NULL;
                    CREATE INDEX refunds_refunded_at ON refunds(refunded_at) WHERE status = 'succeeded';
                    """)
        }
        // The queue's indexes, each for a query that needs it (BENCHMARKS.md, issue 15): jobs_state_kind served only the
        // counts by state, and every job paid for it twice (claimed, then done: two entries moved each time); a
        // claim of the other kinds walked every pending notification in jobs_pending_run_at to find none. Now a claim
        // reads pending jobs by kind, and each state's count reads its own partial index.
        migrator.registerMigration("v9-job-indexes") { db in
            try db.execute(
                sql: """
                    DROP INDEX jobs_state_kind;
                    CREATE INDEX jobs_pending_kind_run_at ON jobs(kind, run_at) WHERE state = 'pending';
                    CREATE INDEX jobs_dead_updated_at ON jobs(updated_at) WHERE state = 'dead';
                    """)
        }
        // The receiver's seal on each notification it verified (StoredNotification.seal).
        migrator.registerMigration("v10-notification-seal") { db in
            try db.execute(sql: "ALTER TABLE notifications ADD COLUMN seal TEXT")
        }
        // Two indexes no query read (prune walks notifications by id, and nothing looks a notification up by its
        // out_trade_no), written for every notification the receiver stores: six or seven of the forty pages a group
        // commit of 24 wrote, and two B-tree inserts per notification (BENCHMARKS.md, "Sixth pass").
        migrator.registerMigration("v11-notification-indexes") { db in
            try db.execute(
                sql: """
                    DROP INDEX IF EXISTS notifications_out_trade_no;
                    DROP INDEX IF EXISTS notifications_last_received_at;
                    """)
        }
        // The pending jobs by run_at alone: read only by the rare reads that name no kind (the counts, the oldest due
        // job, a claim of every kind), which now seek jobs_pending_kind_run_at kind by kind; every job paid for it on
        // the way in and again on the way out (BENCHMARKS.md, "Sixth pass").
        migrator.registerMigration("v12-job-pending-index") { db in
            try db.execute(sql: "DROP INDEX IF EXISTS jobs_pending_run_at")
        }
        return migrator
    }

    /// The identifiers of the migrations this build knows, in order.
    static var known: [String] { migrator.migrations }

    /// The webhook outbox (docs/webhooks.md): the merchant's endpoints, the order events written for them, and the
    /// answer of every delivery attempt. Deliveries themselves are `deliver` jobs on the queue.
    static let v4Webhooks = """
        -- Where order events go. event_types is comma-separated; '' means every type.
        CREATE TABLE webhook_endpoints (
            endpoint_id                 TEXT PRIMARY KEY NOT NULL,
            url                         TEXT NOT NULL,
            event_types                 TEXT NOT NULL DEFAULT '',
            note                        TEXT,
            secret                      TEXT NOT NULL,
            previous_secret             TEXT,
            previous_secret_expires_at  TEXT,
            enabled                     INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
            disabled_reason             TEXT,
            failing_since               TEXT,
            created_at                  TEXT NOT NULL,
            updated_at                  TEXT NOT NULL
        );

        -- One row per order event, written in the transaction of the change it reports.
        CREATE TABLE webhook_events (
            id             INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id       TEXT NOT NULL UNIQUE,
            type           TEXT NOT NULL,
            out_trade_no   TEXT NOT NULL,
            sequence       INTEGER NOT NULL CHECK (sequence > 0),
            order_event_id INTEGER REFERENCES order_events(id),
            payload        TEXT NOT NULL,
            created_at     TEXT NOT NULL,
            UNIQUE (out_trade_no, sequence)
        );
        -- An order change is reported once.
        CREATE UNIQUE INDEX webhook_events_order_event_id ON webhook_events(order_event_id) WHERE order_event_id IS NOT NULL;
        CREATE INDEX webhook_events_created_at ON webhook_events(created_at);

        -- The answer of every delivery attempt. endpoint_id is not a foreign key: removing an endpoint keeps its
        -- history; job_id neither: attempts outlive pruned jobs.
        CREATE TABLE delivery_attempts (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id    TEXT NOT NULL REFERENCES webhook_events(event_id),
            endpoint_id TEXT NOT NULL,
            job_id      INTEGER,
            attempt     INTEGER NOT NULL,
            status      INTEGER,
            response    TEXT,
            error       TEXT,
            duration_ms INTEGER NOT NULL,
            at          TEXT NOT NULL
        );
        CREATE INDEX delivery_attempts_event_endpoint ON delivery_attempts(event_id, endpoint_id, id);
        """

    /// Refund requests (docs/refunds.md). `over_refund` is the message ``SQLiteQueue/translate(_:)`` recognises; a taken
    /// request number is left to the unique constraint (a duplicate, not an over-refund).
    static let v6Refunds = """
        CREATE TABLE refunds (
            id             INTEGER PRIMARY KEY AUTOINCREMENT,
            out_trade_no   TEXT NOT NULL REFERENCES orders(out_trade_no),
            out_request_no TEXT NOT NULL,
            amount_fen     INTEGER NOT NULL CHECK (amount_fen > 0),
            reason         TEXT,
            status         TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
            refunded_at    TEXT,
            fund_change    INTEGER,
            failure        TEXT,
            created_at     TEXT NOT NULL,
            updated_at     TEXT NOT NULL,
            UNIQUE (out_trade_no, out_request_no)
        );
        CREATE INDEX refunds_pending ON refunds(created_at) WHERE status = 'pending';
        -- The sweeper asks Alipay about recently paid orders (a lost refund notification).
        CREATE INDEX orders_paid_at ON orders(paid_at) WHERE status = 'TRADE_SUCCESS';
        CREATE TRIGGER refunds_within_amount_insert BEFORE INSERT ON refunds
        WHEN NEW.status <> 'failed'
         AND NOT EXISTS (SELECT 1 FROM refunds WHERE out_trade_no = NEW.out_trade_no AND out_request_no = NEW.out_request_no)
         AND NEW.amount_fen + (SELECT COALESCE(SUM(amount_fen), 0) FROM refunds
                               WHERE out_trade_no = NEW.out_trade_no AND status <> 'failed')
             > (SELECT total_amount_fen FROM orders WHERE out_trade_no = NEW.out_trade_no)
        BEGIN
            SELECT RAISE(ABORT, 'over_refund: the refunds of this order would exceed its amount');
        END;
        CREATE TRIGGER refunds_within_amount_update BEFORE UPDATE OF status, amount_fen ON refunds
        WHEN NEW.status <> 'failed'
         AND NEW.amount_fen + (SELECT COALESCE(SUM(amount_fen), 0) FROM refunds
                               WHERE out_trade_no = NEW.out_trade_no AND status <> 'failed' AND id <> NEW.id)
             > (SELECT total_amount_fen FROM orders WHERE out_trade_no = NEW.out_trade_no)
        BEGIN
            SELECT RAISE(ABORT, 'over_refund: the refunds of this order would exceed its amount');
        END;
        """

    static let v1InitialSchema = """
        -- Alipay notifications exactly as received, one row per notify_id.
        CREATE TABLE notifications (
            id                INTEGER PRIMARY KEY AUTOINCREMENT,
            notify_id         TEXT NOT NULL UNIQUE,
            out_trade_no      TEXT NOT NULL,
            trade_status      TEXT NOT NULL,
            body              TEXT NOT NULL,
            first_received_at TEXT NOT NULL,
            last_received_at  TEXT NOT NULL,
            delivery_count    INTEGER NOT NULL DEFAULT 1 CHECK (delivery_count >= 1)
        );
        CREATE INDEX notifications_out_trade_no ON notifications(out_trade_no);
        CREATE INDEX notifications_last_received_at ON notifications(last_received_at);

        -- The durable queue. AUTOINCREMENT so that pruning never lets a job id be reused.
        CREATE TABLE jobs (
            id               INTEGER PRIMARY KEY AUTOINCREMENT,
            kind             TEXT NOT NULL,
            state            TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'running', 'done', 'dead')),
            unique_key       TEXT,
            out_trade_no     TEXT,
            notification_id  INTEGER REFERENCES notifications(id),
            notify_id        TEXT,
            attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            run_at           TEXT NOT NULL,
            lease_owner      TEXT,
            lease_expires_at TEXT,
            last_error       TEXT,
            created_at       TEXT NOT NULL,
            updated_at       TEXT NOT NULL,
            -- A lease exists exactly while the job runs.
            CHECK ((state = 'running') = (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL))
        );
        -- Claim reads these two partial indexes only: due pending jobs, and running jobs by lease expiry.
        CREATE INDEX jobs_pending_run_at ON jobs(run_at) WHERE state = 'pending';
        CREATE INDEX jobs_running_lease ON jobs(lease_expires_at) WHERE state = 'running';
        -- Enqueue is idempotent on unique_key among live jobs; done and dead jobs do not block a new one.
        CREATE UNIQUE INDEX jobs_live_unique_key ON jobs(unique_key) WHERE state IN ('pending', 'running');
        CREATE INDEX jobs_state_kind ON jobs(state, kind);
        CREATE INDEX jobs_out_trade_no ON jobs(out_trade_no);
        CREATE INDEX jobs_notification_id ON jobs(notification_id);
        CREATE INDEX jobs_done_updated_at ON jobs(updated_at) WHERE state = 'done';

        -- How each attempt ended. Replay keeps these; only pruning a done job removes its history.
        CREATE TABLE job_attempts (
            id      INTEGER PRIMARY KEY AUTOINCREMENT,
            job_id  INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
            attempt INTEGER NOT NULL,
            owner   TEXT,
            outcome TEXT NOT NULL CHECK (outcome IN ('done', 'retry', 'dead', 'lease_expired', 'released', 'replayed')),
            error   TEXT,
            at      TEXT NOT NULL
        );
        CREATE INDEX job_attempts_job_id ON job_attempts(job_id, id);

        -- Orders. Money is integer fen.
        CREATE TABLE orders (
            out_trade_no     TEXT PRIMARY KEY NOT NULL,
            subject          TEXT NOT NULL,
            total_amount_fen INTEGER NOT NULL CHECK (total_amount_fen > 0),
            status           TEXT NOT NULL
                             CHECK (status IN ('CREATED', 'WAIT_BUYER_PAY', 'TRADE_SUCCESS', 'TRADE_FINISHED', 'TRADE_CLOSED')),
            trade_no         TEXT,
            refunded_fen     INTEGER NOT NULL DEFAULT 0 CHECK (refunded_fen >= 0 AND refunded_fen <= total_amount_fen),
            needs_review     INTEGER NOT NULL DEFAULT 0 CHECK (needs_review IN (0, 1)),
            review_reason    TEXT,
            created_at       TEXT NOT NULL,
            updated_at       TEXT NOT NULL,
            paid_at          TEXT,
            closed_at        TEXT
        );
        CREATE INDEX orders_status_created_at ON orders(status, created_at);
        CREATE INDEX orders_needs_review ON orders(updated_at) WHERE needs_review = 1;

        -- One row per status change. job_id is not a foreign key: events outlive pruned jobs.
        CREATE TABLE order_events (
            id           INTEGER PRIMARY KEY AUTOINCREMENT,
            out_trade_no TEXT NOT NULL REFERENCES orders(out_trade_no),
            from_status  TEXT,
            to_status    TEXT NOT NULL,
            source       TEXT NOT NULL,
            job_id       INTEGER,
            notify_id    TEXT,
            detail       TEXT,
            created_at   TEXT NOT NULL
        );
        CREATE INDEX order_events_out_trade_no ON order_events(out_trade_no, id);

        -- /readyz commits here to prove the database takes writes.
        CREATE TABLE store_heartbeat (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            at TEXT NOT NULL
        );
        """
}
