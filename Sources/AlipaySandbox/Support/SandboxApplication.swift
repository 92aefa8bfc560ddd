import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// Builds the sandbox's HTTP application: gateway, cashier and control API on one port.
public enum SandboxApplication {
    /// Every route of the sandbox.
    public static func router(sandbox: Sandbox) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        let gateway = Gateway(sandbox: sandbox)
        router.get("/gateway.do") { request, context in try await gateway.handle(request, context: context) }
        router.post("/gateway.do") { request, context in try await gateway.handle(request, context: context) }
        CashierRoutes.add(to: router, sandbox: sandbox)
        ControlRoutes.add(to: router, sandbox: sandbox)
        router.get("/healthz") { _, _ in "ok" }
        return router
    }

    /// The application listening on the configured host and port; `services` run alongside it (tests pass the
    /// dispatcher here, the executable runs it in its own `ServiceGroup`).
    public static func make(
        sandbox: Sandbox, services: [any Service] = [], onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in },
        logger: Logger = Logger(label: "alipay-sandbox")
    ) -> some ApplicationProtocol {
        Application(
            router: router(sandbox: sandbox),
            configuration: .init(
                address: .hostname(sandbox.configuration.host, port: sandbox.configuration.port), serverName: "alipay-sandbox"),
            services: services,
            onServerRunning: onServerRunning,
            logger: logger)
    }
}
