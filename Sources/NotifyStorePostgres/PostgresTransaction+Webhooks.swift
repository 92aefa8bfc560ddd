import Foundation
import NotifyStore
import PostgresNIO

/// The webhook outbox on PostgreSQL: endpoints, order events and delivery attempts. Inserts that may clash use
/// `ON CONFLICT DO NOTHING` and report the duplicate themselves, so the transaction stays usable (as `insertOrder`).
extension PostgresTransaction {
    func webhookEndpoints() throws -> [WebhookEndpoint] {
        if let endpointsMemo { return endpointsMemo }
        // "C" so that ties on created_at come in the same order as on SQLite (byte order).
        let endpoints = try execute("SELECT * FROM webhook_endpoints ORDER BY created_at, endpoint_id COLLATE \"C\"").map(WebhookEndpoint.init(row:))
        endpointsMemo = endpoints
        return endpoints
    }

    func webhookEndpoint(_ endpointId: String) throws -> WebhookEndpoint? {
        try execute("SELECT * FROM webhook_endpoints WHERE endpoint_id = \(endpointId)").first.map(WebhookEndpoint.init(row:))
    }

    func webhookEvents(outTradeNo: String?, type: String?, since: Date?, limit: Int) throws -> [WebhookEvent] {
        var sql = "SELECT * FROM webhook_events WHERE true"
        var binds = PostgresBindings()
        if let outTradeNo {
            binds.append(outTradeNo)
            sql += " AND out_trade_no = $\(binds.count)"
        }
        if let type {
            binds.append(type)
            sql += " AND type = $\(binds.count)"
        }
        if let since {
            binds.append(since)
            sql += " AND created_at >= $\(binds.count)"
        }
        binds.append(limit)
        sql += " ORDER BY id DESC LIMIT $\(binds.count)"
        return try execute(PostgresQuery(unsafeSQL: sql, binds: binds)).map(WebhookEvent.init(row:))
    }

    func webhookEvent(_ eventId: String) throws -> WebhookEvent? {
        try execute("SELECT * FROM webhook_events WHERE event_id = \(eventId)").first.map(WebhookEvent.init(row:))
    }

    func lastWebhookSequence(outTradeNo: String) throws -> Int64 {
        try execute("SELECT COALESCE(max(sequence), 0)::bigint FROM webhook_events WHERE out_trade_no = \(outTradeNo)").first?.decode(Int64.self) ?? 0
    }

    func deliveryAttempts(eventId: String, endpointId: String?) throws -> [DeliveryAttempt] {
        let query: PostgresQuery =
            if let endpointId {
                "SELECT * FROM delivery_attempts WHERE event_id = \(eventId) AND endpoint_id = \(endpointId) ORDER BY id"
            } else {
                "SELECT * FROM delivery_attempts WHERE event_id = \(eventId) ORDER BY id"
            }
        return try execute(query).map(DeliveryAttempt.init(row:))
    }

    /// The endpoint is the middle part of the job's unique key, `deliver:<endpointId>:<eventId>` (endpoint ids hold
    /// no ':').
    func oldestUndeliveredByEndpoint() throws -> [String: Date] {
        var oldest: [String: Date] = [:]
        let rows = try execute(
            """
            SELECT split_part(unique_key, ':', 2) AS endpoint_id, min(created_at) AS oldest
            FROM jobs
            WHERE kind = \(JobKind.deliver.rawValue) AND state IN ('pending', 'running') AND unique_key LIKE 'deliver:%:%'
            GROUP BY 1
            """)
        for row in rows {
            let (endpointId, date) = try row.decode((String, Date).self)
            oldest[endpointId] = date
        }
        return oldest
    }

    func insertWebhookEvent(_ event: WebhookEvent) throws -> WebhookEvent {
        let rows = try execute(
            """
            INSERT INTO webhook_events (event_id, type, out_trade_no, sequence, order_event_id, payload, created_at)
            VALUES (\(event.eventId), \(event.type), \(event.outTradeNo), \(event.sequence), \(event.orderEventId)::bigint, \(event.payload),
                    \(event.createdAt))
            ON CONFLICT DO NOTHING
            RETURNING id
            """)
        guard let row = rows.first else {
            throw StoreError.duplicate("webhook event \(event.eventId) (or sequence \(event.sequence) of order \(event.outTradeNo))")
        }
        var stored = event
        stored.id = try row.decode(Int64.self)
        return stored
    }

    func insertWebhookEndpoint(_ endpoint: WebhookEndpoint) throws {
        guard try insertWebhookEndpointRow(endpoint) else { throw StoreError.duplicate("webhook endpoint \(endpoint.endpointId)") }
    }

    /// Writes the endpoint's row unless its id is taken; true when written (`insertWebhookEndpoint` and `importRows`).
    func insertWebhookEndpointRow(_ endpoint: WebhookEndpoint) throws -> Bool {
        endpointsMemo = nil
        return try changes(
            """
            INSERT INTO webhook_endpoints (endpoint_id, url, event_types, note, secret, previous_secret, previous_secret_expires_at,
                                           enabled, disabled_reason, failing_since, created_at, updated_at)
            VALUES (\(endpoint.endpointId), \(endpoint.url), \(WebhookEventTypes.column(endpoint.eventTypes)), \(endpoint.note)::text,
                    \(endpoint.secret), \(endpoint.previousSecret)::text, \(endpoint.previousSecretExpiresAt)::timestamptz, \(endpoint.enabled),
                    \(endpoint.disabledReason)::text, \(endpoint.failingSince)::timestamptz, \(endpoint.createdAt), \(endpoint.updatedAt))
            ON CONFLICT DO NOTHING
            """) == 1
    }

    func updateWebhookEndpoint(_ endpoint: WebhookEndpoint) throws -> Bool {
        endpointsMemo = nil
        return try changes(
            """
            UPDATE webhook_endpoints
            SET url = \(endpoint.url), event_types = \(WebhookEventTypes.column(endpoint.eventTypes)), note = \(endpoint.note)::text,
                secret = \(endpoint.secret), previous_secret = \(endpoint.previousSecret)::text,
                previous_secret_expires_at = \(endpoint.previousSecretExpiresAt)::timestamptz, enabled = \(endpoint.enabled),
                disabled_reason = \(endpoint.disabledReason)::text, failing_since = \(endpoint.failingSince)::timestamptz,
                created_at = \(endpoint.createdAt), updated_at = \(endpoint.updatedAt)
            WHERE endpoint_id = \(endpoint.endpointId)
            """) == 1
    }

    func deleteWebhookEndpoint(_ endpointId: String) throws -> Bool {
        endpointsMemo = nil
        return try changes("DELETE FROM webhook_endpoints WHERE endpoint_id = \(endpointId)") == 1
    }

    func insertDeliveryAttempt(_ attempt: DeliveryAttempt) throws -> DeliveryAttempt {
        let row = try execute(
            """
            INSERT INTO delivery_attempts (event_id, endpoint_id, job_id, attempt, status, response, error, duration_ms, at)
            VALUES (\(attempt.eventId), \(attempt.endpointId), \(attempt.jobId)::bigint, \(attempt.attempt), \(attempt.status)::integer,
                    \(attempt.response)::text, \(attempt.error)::text, \(attempt.durationMilliseconds), \(attempt.at))
            RETURNING id
            """
        ).first
        var stored = attempt
        stored.id = try row?.decode(Int64.self)
        return stored
    }

    func deleteDeliveryAttempts(before cutoff: Date, limit: Int) throws -> Int {
        try changes(
            "DELETE FROM delivery_attempts WHERE id IN (SELECT id FROM delivery_attempts WHERE at < \(cutoff) ORDER BY id LIMIT \(limit))")
    }

    func deleteWebhookEvents(before cutoff: Date, keeping: Set<String>, limit: Int) throws -> Int {
        let kept = Array(keeping)
        return try changes(
            """
            DELETE FROM webhook_events WHERE id IN (
                SELECT id FROM webhook_events e
                WHERE created_at < \(cutoff) AND NOT (event_id = ANY(\(kept)))
                  AND NOT EXISTS (SELECT 1 FROM delivery_attempts a WHERE a.event_id = e.event_id)
                ORDER BY id LIMIT \(limit))
            """)
    }
}
