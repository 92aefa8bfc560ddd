import Foundation
import NotifyStore
import PostgresNIO

/// `notifyctl db copy` on PostgreSQL: pages in key order out, rows with their ids in (`OVERRIDING SYSTEM VALUE`, since
/// ids are identity columns), rows already there skipped, and the identity moved past the highest id imported so that
/// rows written afterwards never collide with a copied one.
extension PostgresTransaction {
    func rowCounts() throws -> [StoreTable: Int] {
        var counts: [StoreTable: Int] = [:]
        for table in StoreTable.allCases {
            let count = try execute(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(table.rawValue)")).first?.decode(Int.self) ?? 0
            counts[table] = count
        }
        return counts
    }

    func page(_ table: StoreTable, after key: StoreCopyKey?, limit: Int) throws -> StoreRows {
        if table == .orders {
            var after = ""
            if case .text(let text) = key { after = text }
            return .orders(
                try execute("SELECT * FROM orders WHERE out_trade_no COLLATE \"C\" > \(after) ORDER BY out_trade_no COLLATE \"C\" LIMIT \(limit)")
                    .map(Order.init(row:)))
        }
        if table == .webhookEndpoints {
            var after = ""
            if case .text(let text) = key { after = text }
            return .webhookEndpoints(
                try execute(
                    """
                    SELECT * FROM webhook_endpoints WHERE endpoint_id COLLATE "C" > \(after) ORDER BY endpoint_id COLLATE "C" LIMIT \(limit)
                    """
                ).map(WebhookEndpoint.init(row:)))
        }
        var after: Int64 = 0
        if case .id(let id) = key { after = id }
        var query = PostgresQuery(unsafeSQL: "SELECT * FROM \(table.rawValue) WHERE id > $1 ORDER BY id LIMIT $2")
        query.binds.append(after)
        query.binds.append(limit)
        let rows = try execute(query)
        switch table {
        case .orders: return .orders([])
        case .refunds: return .refunds(try rows.map(Refund.init(row:)))
        case .orderEvents: return .orderEvents(try rows.map(OrderEvent.init(row:)))
        case .notifications: return .notifications(try rows.map(StoredNotification.init(row:)))
        case .jobs: return .jobs(try rows.map(Job.init(row:)))
        case .jobAttempts: return .jobAttempts(try rows.map(JobAttempt.init(row:)))
        case .webhookEndpoints: return .webhookEndpoints([])
        case .webhookEvents: return .webhookEvents(try rows.map(WebhookEvent.init(row:)))
        case .deliveryAttempts: return .deliveryAttempts(try rows.map(DeliveryAttempt.init(row:)))
        }
    }

    func importRows(_ rows: StoreRows) throws -> Int {
        var inserted = 0
        switch rows {
        case .orders(let orders):
            for order in orders where try insertOrderRow(order) { inserted += 1 }
            return inserted
        case .refunds(let refunds):
            for refund in refunds where try insertRefundRow(refund, keepingId: true) != nil { inserted += 1 }
        case .orderEvents(let events):
            for event in events {
                inserted += try changes(
                    """
                    INSERT INTO order_events (id, out_trade_no, from_status, to_status, source, job_id, notify_id, detail, created_at)
                    OVERRIDING SYSTEM VALUE
                    VALUES (\(event.id), \(event.outTradeNo), \(event.fromStatus?.rawValue)::text, \(event.toStatus.rawValue), \(event.source),
                            \(event.jobId)::bigint, \(event.notifyId)::text, \(event.detail)::text, \(event.createdAt))
                    ON CONFLICT DO NOTHING
                    """)
            }
        case .notifications(let notifications):
            for notification in notifications {
                inserted += try changes(
                    """
                    INSERT INTO notifications (id, notify_id, out_trade_no, trade_status, body, first_received_at, last_received_at, delivery_count, seal)
                    OVERRIDING SYSTEM VALUE
                    VALUES (\(notification.id), \(notification.notifyId), \(notification.outTradeNo), \(notification.tradeStatus),
                            \(notification.body), \(notification.firstReceivedAt), \(notification.lastReceivedAt), \(notification.deliveryCount),
                            \(notification.seal)::text)
                    ON CONFLICT DO NOTHING
                    """)
            }
        case .jobs(let jobs):
            for job in jobs {
                inserted += try changes(
                    """
                    INSERT INTO jobs (id, kind, state, unique_key, out_trade_no, notification_id, notify_id, payload, attempts, run_at,
                                      lease_owner, lease_expires_at, last_error, created_at, updated_at)
                    OVERRIDING SYSTEM VALUE
                    VALUES (\(job.id), \(job.kind.rawValue), \(job.state.rawValue), \(job.uniqueKey)::text, \(job.outTradeNo)::text,
                            \(job.notificationId)::bigint, \(job.notifyId)::text, \(job.payload)::text, \(job.attempts), \(job.runAt),
                            \(job.leaseOwner)::text, \(job.leaseExpiresAt)::timestamptz, \(job.lastError)::text, \(job.createdAt), \(job.updatedAt))
                    ON CONFLICT DO NOTHING
                    """)
            }
        case .jobAttempts(let attempts):
            for attempt in attempts {
                inserted += try changes(
                    """
                    INSERT INTO job_attempts (id, job_id, attempt, owner, outcome, error, at)
                    OVERRIDING SYSTEM VALUE
                    VALUES (\(attempt.id), \(attempt.jobId), \(attempt.attempt), \(attempt.owner)::text, \(attempt.outcome.rawValue),
                            \(attempt.error)::text, \(attempt.at))
                    ON CONFLICT DO NOTHING
                    """)
            }
        case .webhookEndpoints(let endpoints):
            for endpoint in endpoints where try insertWebhookEndpointRow(endpoint) { inserted += 1 }
            return inserted
        case .webhookEvents(let events):
            for event in events {
                inserted += try changes(
                    """
                    INSERT INTO webhook_events (id, event_id, type, out_trade_no, sequence, order_event_id, payload, created_at)
                    OVERRIDING SYSTEM VALUE
                    VALUES (\(event.id), \(event.eventId), \(event.type), \(event.outTradeNo), \(event.sequence), \(event.orderEventId)::bigint,
                            \(event.payload), \(event.createdAt))
                    ON CONFLICT DO NOTHING
                    """)
            }
        case .deliveryAttempts(let attempts):
            for attempt in attempts {
                inserted += try changes(
                    """
                    INSERT INTO delivery_attempts (id, event_id, endpoint_id, job_id, attempt, status, response, error, duration_ms, at)
                    OVERRIDING SYSTEM VALUE
                    VALUES (\(attempt.id), \(attempt.eventId), \(attempt.endpointId), \(attempt.jobId)::bigint, \(attempt.attempt),
                            \(attempt.status)::integer, \(attempt.response)::text, \(attempt.error)::text, \(attempt.durationMilliseconds),
                            \(attempt.at))
                    ON CONFLICT DO NOTHING
                    """)
            }
        }
        // Identity columns do not follow explicit ids: move each past the highest id now in its table (orders and
        // webhook endpoints have none and returned above).
        let table =
            switch rows {
            case .orders: StoreTable.orders.rawValue
            case .refunds: StoreTable.refunds.rawValue
            case .orderEvents: StoreTable.orderEvents.rawValue
            case .notifications: StoreTable.notifications.rawValue
            case .jobs: StoreTable.jobs.rawValue
            case .jobAttempts: StoreTable.jobAttempts.rawValue
            case .webhookEndpoints: StoreTable.webhookEndpoints.rawValue
            case .webhookEvents: StoreTable.webhookEvents.rawValue
            case .deliveryAttempts: StoreTable.deliveryAttempts.rawValue
            }
        try execute(
            PostgresQuery(
                unsafeSQL: "SELECT setval(pg_get_serial_sequence('\(table)', 'id'), GREATEST((SELECT max(id) FROM \(table)), 1))"))
        return inserted
    }
}
