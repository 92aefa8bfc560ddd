import AsyncHTTPClient
import Foundation
import NIOCore
import StoreTestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// One of the project's executables running as a child process, its standard output and error in a log file.
///
/// Waiting is polling with a deadline (never a fixed sleep): for a port to answer, for the process to exit
/// (``ProcessExit``, never `waitUntilExit()`).
final class DaemonProcess: @unchecked Sendable {
    /// The executable's name, for messages.
    let name: String
    /// Where its standard output and error go.
    let logFile: URL
    private let process: Process
    private let exit: ProcessExit

    /// The process id.
    var pid: Int32 { process.processIdentifier }
    /// Whether it still runs (until Foundation has reaped it).
    var isRunning: Bool { exit.status == nil }
    /// Everything it wrote so far.
    var log: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    private init(name: String, logFile: URL, process: Process, exit: ProcessExit) {
        self.name = name
        self.logFile = logFile
        self.process = process
        self.exit = exit
    }

    /// Starts `executable` (a name in ``Executables/directory``) with exactly `environment` plus PATH and HOME.
    ///
    /// The test runner's own `ALIPAY_*` variables are not inherited, so a developer's shell cannot change a test.
    static func start(
        _ executable: String, arguments: [String] = [], environment: [String: String], logFile: URL
    ) throws -> DaemonProcess {
        let path = try Executables.path(executable)
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let output = try FileHandle(forWritingTo: logFile)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        var childEnvironment = environment
        let inherited = ProcessInfo.processInfo.environment
        childEnvironment["PATH"] = childEnvironment["PATH"] ?? inherited["PATH"] ?? "/usr/bin:/bin"
        childEnvironment["HOME"] = childEnvironment["HOME"] ?? inherited["HOME"] ?? "/tmp"
        process.environment = childEnvironment
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        let exit = ProcessExit(watching: process)
        try process.run()
        try? output.close()
        return DaemonProcess(name: executable, logFile: logFile, process: process, exit: exit)
    }

    /// Sends a signal (SIGTERM, SIGKILL…).
    func signal(_ signal: Int32) {
        guard isRunning else { return }
        kill(process.processIdentifier, signal)
    }

    /// Waits for the process to end; returns its exit code, or 128+signal when a signal ended it.
    @discardableResult
    func waitForExit(timeout: Duration = .seconds(30)) async throws -> Int32 {
        guard let status = try await exit.wait(timeout: timeout) else {
            throw HarnessError("\(name) (pid \(pid)) did not exit within \(timeout); log:\n\(log)")
        }
        return status
    }

    /// Kills the process with SIGKILL if it still runs, and waits for it (for cleanup paths).
    func stop() async {
        signal(SIGKILL)
        _ = try? await waitForExit(timeout: .seconds(10))
    }

    /// Waits until `GET url` answers 200, failing early with the log when the process exits first.
    func waitUntilHealthy(_ url: String, timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let status = exit.status {
                throw HarnessError("\(name) exited with status \(status) before \(url) answered; log:\n\(log)")
            }
            var request = HTTPClientRequest(url: url)
            request.method = .GET
            if let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(2)), response.status == .ok {
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw HarnessError("\(name) did not answer \(url) within \(timeout); log:\n\(log)")
    }
}
