import AlipayNotifyWebhooks
import ArgumentParser
import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import NotifyCore
import NotifyStore
import ServiceLifecycle
import Synchronization

extension Events {
    /// `notifyctl events listen [--forward URL]`: order events as they are delivered, for development (like
    /// `stripe listen`). It registers a temporary endpoint on a loopback port of its own, prints each delivery with
    /// the result of checking its signature, optionally forwards it (same body and headers) to the application being
    /// developed, and removes the endpoint on Ctrl-C. The worker must be allowed to deliver to loopback over http
    /// (`webhooks.allowInsecureUrls` and `webhooks.allowPrivateNetworks`, as `scripts/dev up` sets them).
    struct Listen: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print order events as they are delivered, and forward them to a local URL (development).")
        @OptionGroup var options: ConfigOptions
        @Option(name: .long, help: "Also POST each delivery (same body and webhook-* headers) to this URL; its status is the answer.")
        var forward: String?
        @Option(name: .long, help: "Comma-separated event types (default: all).")
        var events: String?
        @Option(name: .long, help: "Loopback port to listen on (default: a free one).")
        var port = 0

        func validate() throws {
            guard (0...65535).contains(port) else { throw ValidationError("--port must be from 0 to 65535") }
            if let forward, URL(string: forward)?.host == nil { throw ValidationError("--forward: \"\(forward)\" is not an absolute URL") }
        }

        func run() async throws {
            try await reporting {
                let settings = try await options.load()
                let types = events.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } } ?? []
                try await withStore(settings) { store in
                    try await listen(store: store, types: types)
                }
            }
        }

        private func listen(store: any Store, types: [String]) async throws {
            // The temporary endpoint is ours, on loopback: added without the production URL policy.
            let service = WebhookService(store: store, policy: EndpointPolicy(allowInsecureUrls: true, allowPrivateNetworks: true))
            let verifier = Mutex<WebhookVerifier?>(nil)
            let forward = forward
            let router = Router()
            router.post("/") { request, context -> Response in
                let body = try await request.body.collect(upTo: 1 << 20)
                var headers: [String: String] = [:]
                for field in request.headers { headers[field.name.canonicalName] = field.value }
                let verdict: String
                if let current = verifier.withLock({ $0 }) {
                    do throws(WebhookVerificationError) {
                        try current.verify(body: body.readableBytesView, headers: headers)
                        verdict = "signature ok"
                    } catch {
                        verdict = "SIGNATURE INVALID: \(error)"
                    }
                } else {
                    verdict = "not checked yet"
                }
                let text = String(buffer: body)
                let type = (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])?["type"] as? String ?? "?"
                say("\(OrderView.timestamp(Date()))  \(type)  \(headers["webhook-id"] ?? "-")  [\(verdict)]")
                say("  \(text)")
                guard let forward else { return Response(status: .ok) }
                var outgoing = HTTPClientRequest(url: forward)
                outgoing.method = .POST
                for name in ["content-type", "webhook-id", "webhook-timestamp", "webhook-signature"] {
                    if let value = headers[name] { outgoing.headers.add(name: name, value: value) }
                }
                outgoing.body = .bytes(body)
                do {
                    let answer = try await HTTPClient.shared.execute(outgoing, timeout: .seconds(15))
                    say("  → \(forward): \(answer.status.code)")
                    return Response(status: .init(code: Int(answer.status.code)))
                } catch {
                    say("  → \(forward): no answer (\(error))")
                    return Response(status: .badGateway)
                }
            }
            let endpointId = Mutex<String?>(nil)
            let failure = Mutex<String?>(nil)
            var logger = Logger(label: "notifyctl.listen")
            logger.logLevel = .warning
            let app = Application(
                router: router, configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: nil),
                onServerRunning: { channel in
                    let port = channel.localAddress?.port ?? 0
                    do throws(WebhookServiceError) {
                        let view = try await service.add(url: "http://127.0.0.1:\(port)/", events: types, note: "notifyctl events listen (temporary)")
                        endpointId.withLock { $0 = view.id }
                        verifier.withLock { $0 = try? WebhookVerifier(secret: view.secret ?? "") }
                        say("listening on http://127.0.0.1:\(port)/ as endpoint \(view.id) (\(types.isEmpty ? "all events" : types.joined(separator: ",")))")
                        if let forward { say("forwarding to \(forward) with the same headers; verify them with the secret \(view.secret ?? "")") }
                        say("Ctrl-C stops and removes the endpoint")
                    } catch {
                        failure.withLock { $0 = "cannot register the endpoint: \(error)" }
                        say("notifyctl: cannot register the endpoint: \(error)")
                    }
                }, logger: logger)
            let group = ServiceGroup(
                configuration: .init(services: [.init(service: app)], gracefulShutdownSignals: [.sigint, .sigterm], logger: logger))
            do {
                try await group.run()
            } catch {
                failure.withLock { $0 = $0 ?? "\(error)" }
            }
            if let id = endpointId.withLock({ $0 }) {
                do throws(WebhookServiceError) {
                    try await service.remove(id)
                    say("endpoint \(id) removed")
                } catch {
                    say("notifyctl: could not remove endpoint \(id): \(error); remove it with `notifyctl endpoints remove \(id)`")
                }
            }
            if let message = failure.withLock({ $0 }) { throw CLIFailure.failed(message) }
        }
    }
}

/// One line on standard output, written at once (unbuffered): a file or a pipe sees each event as it arrives.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
