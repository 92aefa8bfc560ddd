import Foundation
import StoreTestSupport

/// A `notify-receiver` started on free loopback ports of a workspace.
struct ReceiverDaemon {
    /// The running process.
    let process: DaemonProcess
    /// `http://127.0.0.1:<receiver.port>`.
    let publicURL: String
    /// `http://127.0.0.1:<api.port>`.
    let internalURL: String

    /// Starts the receiver and waits until `/healthz` answers.
    static func start(
        in workspace: TestWorkspace, extra: [String: String] = [:], logName: String = "receiver.log"
    ) async throws -> ReceiverDaemon {
        let receiverPort = try Ports.free()
        let apiPort = try Ports.free()
        let process = try DaemonProcess.start(
            "notify-receiver", environment: workspace.environment(receiverPort: receiverPort, apiPort: apiPort, extra: extra),
            logFile: workspace.file(logName))
        let daemon = ReceiverDaemon(
            process: process, publicURL: "http://127.0.0.1:\(receiverPort)", internalURL: "http://127.0.0.1:\(apiPort)")
        do {
            try await process.waitUntilHealthy("\(daemon.publicURL)/healthz")
            try await process.waitUntilHealthy("\(daemon.internalURL)/readyz")
        } catch {
            await process.stop()
            throw error
        }
        return daemon
    }
}
