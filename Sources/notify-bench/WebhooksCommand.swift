import ArgumentParser
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NotifyStore
import NotifyStoreEngines
import Synchronization

/// `notify-bench webhooks`: order-event delivery measured against a running `notify-worker` on the same store.
///
/// It serves two endpoints on loopback — `/ok` answers 204 at once, `/hang` never answers before the worker's
/// timeout — and registers both, so every event has one delivery that hangs. Then:
/// 1. latency: `--latency-events` events published one at a time at `--rate` per second (the worker idle between
///    them); for each, the time from the commit of its transaction to its arrival at `/ok`;
/// 2. throughput: `--events` events published in transactions of 500; deliveries/s = events ÷ the time from the first
///    commit to the last arrival at `/ok`.
/// Prints one JSON object. The hanging endpoint's deliveries keep failing meanwhile: what it shows is that they do
/// not hold the healthy endpoint up.
struct WebhooksCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "webhooks", abstract: "Delivery latency and deliveries/s to a local sink, one endpoint hanging (needs a running notify-worker).")

    @Option(name: .long, help: "The store the worker uses: sqlite:PATH or postgres://…")
    var store: String

    @Option(name: .long, help: "Events for the throughput phase.")
    var events = 5000

    @Option(name: .long, help: "Events for the latency phase, published one at a time.")
    var latencyEvents = 200

    @Option(name: .long, help: "Events per second in the latency phase.")
    var rate = 20.0

    @Flag(name: .long, inversion: .prefixedNo, help: "Register an endpoint that never answers in time, beside the healthy one.")
    var hang = true

    final class Sink: Sendable {
        let arrivals = Mutex<[String: ContinuousClock.Instant]>([:])
        let hung = Atomic<Int>(0)
    }

    func run() async throws {
        var logger = Logger(label: "notify-bench")
        logger.logLevel = .warning
        let store = try await StoreEngines.open(try StoreURL(parsing: store), options: .init(migrate: false), logger: logger)
        let sink = Sink()
        let router = Router()
        router.post("/ok") { request, _ -> Response in
            if let id = request.headers[HTTPField.Name("webhook-id")!] {
                let now = ContinuousClock.now
                sink.arrivals.withLock { if $0[id] == nil { $0[id] = now } }
            }
            return Response(status: .noContent)
        }
        router.post("/hang") { _, _ -> Response in
            sink.hung.add(1, ordering: .relaxed)
            try? await Task.sleep(for: .seconds(120))
            return Response(status: .ok)
        }
        let port = Mutex<Int?>(nil)
        var serverLogger = logger
        serverLogger.logLevel = .critical  // cancelling the server is how it stops; it logs that as an error
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: nil),
            onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port } }, logger: serverLogger)
        let server = Task { try await app.run() }
        defer { server.cancel() }
        while port.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(10)) }
        let base = "http://127.0.0.1:\(port.withLock { $0 }!)"

        let now = Date()
        let secret = "whsec_" + Data(repeating: 1, count: 32).base64EncodedString()
        try await store.write { tx in
            try tx.insertWebhookEndpoint(
                WebhookEndpoint(endpointId: "ep_bench_ok", url: "\(base)/ok", secret: secret, createdAt: now, updatedAt: now))
            if hang {
                try tx.insertWebhookEndpoint(
                    WebhookEndpoint(endpointId: "ep_bench_hang", url: "\(base)/hang", secret: secret, createdAt: now, updatedAt: now))
            }
        }

        // 1. Latency, one event at a time.
        var published: [String: ContinuousClock.Instant] = [:]
        let interval = Duration.seconds(1 / max(0.1, rate))
        for index in 0..<latencyEvents {
            let event = Self.event(index, prefix: "L")
            try await store.write { tx in _ = try tx.publish(event, now: Date()) }
            published[event.eventId] = .now
            try await Task.sleep(for: interval)
        }
        try await waitFor(Set(published.keys), sink: sink, timeout: .seconds(120))
        let latencies = published.compactMap { id, at in sink.arrivals.withLock { $0[id] }.map { Self.milliseconds($0 - at) } }.sorted()

        // 2. Throughput, transactions of 500.
        var ids: Set<String> = []
        let started = ContinuousClock.now
        var index = 0
        while index < events {
            let batch = (index..<min(events, index + 500)).map { Self.event($0, prefix: "T") }
            try await store.write { tx in
                let now = Date()
                for event in batch { _ = try tx.publish(event, now: now) }
            }
            ids.formUnion(batch.map(\.eventId))
            index += batch.count
        }
        let last = try await waitFor(ids, sink: sink, timeout: .seconds(600))
        let seconds = Double((last - started).components.attoseconds) / 1e18 + Double((last - started).components.seconds)
        await store.close()

        let result: [String: Any] = [
            "latency_events": latencies.count, "latency_ms_p50": Self.percentile(latencies, 0.5), "latency_ms_p90": Self.percentile(latencies, 0.9),
            "latency_ms_p99": Self.percentile(latencies, 0.99), "latency_ms_max": latencies.last ?? 0,
            "events": events, "seconds": (seconds * 1000).rounded() / 1000, "deliveries_per_second": (Double(events) / seconds).rounded(),
            "hanging_endpoint": hang, "hanging_requests": sink.hung.load(ordering: .relaxed),
        ]
        print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
    }

    /// Waits until every id arrived at `/ok`; returns the last arrival.
    private func waitFor(_ ids: Set<String>, sink: Sink, timeout: Duration) async throws -> ContinuousClock.Instant {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let (count, last) = sink.arrivals.withLock { arrivals in
                (ids.filter { arrivals[$0] != nil }.count, ids.compactMap { arrivals[$0] }.max())
            }
            if count == ids.count, let last { return last }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw ValidationError("only \(sink.arrivals.withLock { a in ids.filter { a[$0] != nil }.count }) of \(ids.count) events arrived within \(timeout)")
    }

    static func event(_ index: Int, prefix: String) -> WebhookEvent {
        let id = "evt_bench_\(prefix)\(index)_\(UUID().uuidString.prefix(8).lowercased())"
        let payload = #"{"created_at":"\#(ISO8601DateFormatter().string(from: Date()))","data":{"out_trade_no":"BENCH\#(prefix)\#(index)","sequence":1,"status":"TRADE_SUCCESS","total_amount":"1.00"},"id":"\#(id)","type":"order.paid"}"#
        return WebhookEvent(eventId: id, type: "order.paid", outTradeNo: "BENCH\(prefix)\(index)_\(id.suffix(8))", sequence: 1, payload: payload, createdAt: Date())
    }

    static func milliseconds(_ duration: Duration) -> Double {
        (Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15).rounded(toPlaces: 2)
    }

    static func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * fraction).rounded()))]
    }
}

extension Double {
    fileprivate func rounded(toPlaces places: Int) -> Double {
        let factor = Double(Int(pow(10.0, Double(places))))
        return (self * factor).rounded() / factor
    }
}
