import ArgumentParser
import Foundation
import NotifyCore
import NotifyStore

/// `notifyctl endpoints …`: the merchant application's URLs that receive order events (docs/webhooks.md).
struct Endpoints: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "endpoints", abstract: "Add, list, disable, enable, rotate and remove webhook endpoints.",
        subcommands: [Add.self, List.self, Show.self, Disable.self, Enable.self, RotateSecret.self, Remove.self])

    /// `notifyctl endpoints add URL`.
    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add an endpoint; prints its whsec_ secret once.")
        @OptionGroup var options: ConfigOptions
        @Argument(help: "Where events are POSTed (https://, unless webhooks.allowInsecureUrls).")
        var url: String
        @Option(name: .long, help: "Comma-separated event types to receive (default: all): \(WebhookService.eventTypes.joined(separator: ",")).")
        var events: String?
        @Option(name: .long, help: "A note for people (at most 500 characters).")
        var description: String?
        @Flag(name: .long, help: "Print the endpoint as JSON (with its secret).")
        var json = false

        func run() async throws {
            try await reporting {
                let settings = try await options.load()
                let types = events.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } } ?? []
                let view = try await withWebhookService(settings, creating: true) { service in
                    try await service.add(url: url, events: types, note: description)
                }
                if json { return try printJSON(view) }
                print("endpoint \(view.id): \(view.url) (\(view.events.isEmpty ? "all events" : view.events.joined(separator: ",")))")
                print("secret (shown once; give it to the application that verifies deliveries): \(view.secret ?? "")")
            }
        }
    }

    /// `notifyctl endpoints list`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List endpoints (secrets are never shown).")
        @OptionGroup var options: ConfigOptions
        @Flag(name: .long, help: "Print JSON.")
        var json = false

        func run() async throws {
            try await reporting {
                let views = try await withWebhookService(try await options.load()) { service in try await service.list() }
                if json { return try printJSON(views) }
                print(
                    renderTable(
                        ["id", "enabled", "events", "url"],
                        views.map { [$0.id, $0.enabled ? "yes" : "no (\($0.disabledReason ?? "-"))", $0.events.isEmpty ? "all" : $0.events.joined(separator: ","), $0.url] }))
            }
        }
    }

    /// `notifyctl endpoints show ID`.
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one endpoint (exit 1 when not found).")
        @OptionGroup var endpoint: EndpointArguments

        func run() async throws {
            try await reporting { try await endpoint.run { service, id in try await service.show(id) } }
        }
    }

    /// `notifyctl endpoints disable ID`.
    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop deliveries to an endpoint (pending ones go dead; replay them later).")
        @OptionGroup var endpoint: EndpointArguments

        func run() async throws {
            try await reporting { try await endpoint.run { service, id in try await service.disable(id) } }
        }
    }

    /// `notifyctl endpoints enable ID`.
    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Deliver to an endpoint again (new events; `events replay --endpoint ID --since …` sends what it missed).")
        @OptionGroup var endpoint: EndpointArguments

        func run() async throws {
            try await reporting { try await endpoint.run { service, id in try await service.enable(id) } }
        }
    }

    /// `notifyctl endpoints rotate-secret ID`.
    struct RotateSecret: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-secret", abstract: "A new secret, printed once; the old one keeps signing beside it for 24 hours.")
        @OptionGroup var options: ConfigOptions
        @Argument(help: "The endpoint id (ep_…).")
        var id: String
        @Flag(name: .long, help: "Print JSON (with the new secret).")
        var json = false

        func run() async throws {
            try await reporting {
                let view = try await withWebhookService(try await options.load()) { service in try await service.rotateSecret(id) }
                if json { return try printJSON(view) }
                print("endpoint \(view.id): new secret (shown once): \(view.secret ?? "")")
                print("the old secret keeps signing until \(view.previousSecretExpiresAt ?? "-"): deploy the new one before then")
            }
        }
    }

    /// `notifyctl endpoints remove ID`.
    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove an endpoint (its delivery history stays).")
        @OptionGroup var options: ConfigOptions
        @Argument(help: "The endpoint id (ep_…).")
        var id: String

        func run() async throws {
            try await reporting {
                try await withWebhookService(try await options.load()) { service in try await service.remove(id) }
                print("endpoint \(id) removed")
            }
        }
    }
}

/// `notifyctl events …`: the order events written for the merchant's application, and their deliveries.
struct Events: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events", abstract: "List, show and replay order events (webhooks).",
        subcommands: [List.self, Show.self, Replay.self, Listen.self])

    /// `notifyctl events list`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Order events, newest first.")
        @OptionGroup var options: ConfigOptions
        @Option(name: .long, help: "Only this order's events.")
        var order: String?
        @Option(name: .long, help: "Only events of this type (order.paid, order.refunded, …).")
        var type: String?
        @Option(name: .long, help: "At most this many (1…1000, default 100).")
        var limit = 100
        @Flag(name: .long, help: "Print JSON.")
        var json = false

        func validate() throws {
            guard (1...1000).contains(limit) else { throw ValidationError("--limit must be from 1 to 1000") }
        }

        func run() async throws {
            try await reporting {
                let views = try await withWebhookService(try await options.load()) { service in
                    try await service.events(outTradeNo: order, type: type, limit: limit)
                }
                if json { return try printJSON(views) }
                print(renderTable(["id", "type", "out_trade_no", "sequence", "created_at"], views.map { [$0.id, $0.type, $0.outTradeNo, "\($0.sequence)", $0.createdAt] }))
            }
        }
    }

    /// `notifyctl events show ID`.
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One event: its payload and every delivery attempt (exit 1 when not found).")
        @OptionGroup var options: ConfigOptions
        @Argument(help: "The event id (evt_…).")
        var id: String
        @Flag(name: .long, help: "Print JSON.")
        var json = false

        func run() async throws {
            try await reporting {
                let view = try await withWebhookService(try await options.load()) { service in try await service.event(id) }
                if json { return try printJSON(view) }
                print("\(view.id)  \(view.type)  \(view.outTradeNo)  sequence \(view.sequence)  \(view.createdAt)")
                print(view.payload)
                let attempts = view.attempts ?? []
                print(attempts.isEmpty ? "no delivery attempts yet" : "")
                if !attempts.isEmpty {
                    print(
                        renderTable(
                            ["endpoint", "attempt", "status", "ms", "at", "error / answer"],
                            attempts.map {
                                [$0.endpoint, "\($0.attempt)", $0.status.map(String.init) ?? "-", "\($0.durationMs)", $0.at,
                                 ($0.error ?? $0.response ?? "").replacingOccurrences(of: "\n", with: " ").prefix(80).description]
                            }))
                }
            }
        }
    }

    /// `notifyctl events replay`.
    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Deliver events again: by id to every enabled endpoint of their type, or every event since TIME to one endpoint.")
        @OptionGroup var options: ConfigOptions
        @Option(name: .long, help: "An event id (evt_…); repeat for several.")
        var id: [String] = []
        @Option(name: .long, help: "One endpoint (ep_…), with --since.")
        var endpoint: String?
        @Option(name: .long, help: "ISO 8601 time (2026-12-04T10:00:00Z), with --endpoint.")
        var since: String?
        @Flag(name: .long, help: "Print JSON.")
        var json = false

        func validate() throws {
            switch (id.isEmpty, endpoint, since) {
            case (false, nil, nil), (true, .some, .some): break
            default: throw ValidationError("give --id ID … or --endpoint EP --since TIME")
            }
            if let since, (try? Date(since, strategy: .iso8601)) == nil {
                throw ValidationError("--since: \"\(since)\" is not an ISO 8601 time such as 2026-12-04T10:00:00Z")
            }
        }

        func run() async throws {
            try await reporting {
                let settings = try await options.load()
                let replayed = try await withWebhookService(settings) { service in
                    if let endpoint, let since, let date = try? Date(since, strategy: .iso8601) {
                        return try await service.replay(endpointId: endpoint, since: date)
                    }
                    return try await service.replay(eventIds: id)
                }
                if json { return try printJSON(replayed) }
                print("queued \(replayed.count) deliveries")
                for delivery in replayed { print("  job \(delivery.job): \(delivery.event) → \(delivery.endpoint)") }
            }
        }
    }
}

/// What `endpoints show|disable|enable` take: the configuration, the endpoint id and `--json`.
struct EndpointArguments: ParsableArguments {
    @OptionGroup var options: ConfigOptions
    @Argument(help: "The endpoint id (ep_…).")
    var id: String
    @Flag(name: .long, help: "Print JSON.")
    var json = false

    /// Runs `action` on the endpoint and prints what it answers.
    func run(_ action: (WebhookService, String) async throws -> EndpointView) async throws {
        let view = try await withWebhookService(try await options.load()) { service in try await action(service, id) }
        try printEndpoint(view, json: json)
    }
}

/// Prints one endpoint for people or as JSON.
func printEndpoint(_ view: EndpointView, json: Bool) throws {
    if json { return try printJSON(view) }
    let rows: [[String]] = [
        ["id", view.id], ["url", view.url], ["events", view.events.isEmpty ? "all" : view.events.joined(separator: ",")],
        ["description", view.description ?? "-"], ["enabled", view.enabled ? "yes" : "no"], ["disabled_reason", view.disabledReason ?? "-"],
        ["failing_since", view.failingSince ?? "-"], ["previous secret until", view.previousSecretExpiresAt ?? "-"],
        ["created_at", view.createdAt], ["updated_at", view.updatedAt],
    ]
    print(renderTable(["field", "value"], rows))
}

/// Runs `body` with a ``WebhookService`` on the configured store; its errors become the CLI's exit codes.
func withWebhookService<T>(
    _ configuration: NotifyConfiguration, creating: Bool = false, _ body: (WebhookService) async throws -> T
) async throws -> T {
    try await withStore(configuration, creating: creating) { store in
        do {
            return try await body(WebhookService(store: store, policy: EndpointPolicy(configuration.webhooks)))
        } catch let error as WebhookServiceError {
            switch error {
            case .invalid(let text): throw CLIFailure.configuration(text)
            case .notFound(let text): throw CLIFailure.no(text)
            case .conflict(let text), .unavailable(let text): throw CLIFailure.failed(text)
            }
        }
    }
}
