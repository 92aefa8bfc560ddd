import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A tool run to completion (`systemd-analyze`, `scripts/install`): its exit status and everything it printed.
struct Command {
    /// The exit status, or 128+signal when a signal ended it.
    let status: Int32
    /// Standard output and standard error, interleaved as written.
    let output: String

    /// Runs `executable` with `arguments` in `directory` and waits for it to end.
    ///
    /// Output goes to a file, not a pipe, so a chatty tool can never block on a full pipe. `timeout` only bounds a hang:
    /// past it the tool is killed and the test fails with what it printed.
    static func run(
        _ executable: String, _ arguments: [String], in directory: URL? = nil, environment: [String: String]? = nil,
        timeout: Duration = .seconds(300)
    ) async throws -> Command {
        let logFile = FileManager.default.temporaryDirectory.appendingPathComponent("alipay-notify-command-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: logFile) }
        let output = try FileHandle(forWritingTo: logFile)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        if let environment { process.environment = environment }
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        let (exits, exited) = AsyncStream.makeStream(of: Int32.self)
        process.terminationHandler = { process in
            exited.yield(process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus)
            exited.finish()
        }
        try process.run()
        try? output.close()
        let pid = process.processIdentifier
        let status = try await withThrowingTaskGroup(of: Int32?.self) { group in
            group.addTask {
                for await status in exits { return status }
                return nil
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
        let printed = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
        guard let status else {
            kill(pid, SIGKILL)
            throw HarnessError("\(executable) \(arguments.joined(separator: " ")) did not finish within \(timeout); output:\n\(printed)")
        }
        return Command(status: status, output: printed)
    }
}
