import Foundation
import StoreTestSupport

/// A tool run to completion (`systemd-analyze`, `scripts/install`): its exit status and everything it printed.
struct Command {
    /// The exit status, or 128+signal when a signal ended it.
    let status: Int32
    /// Standard output and standard error, interleaved as written.
    let output: String

    /// Runs `executable` with `arguments` in `directory` and waits for it to end.
    ///
    /// Output goes to a file (``ChildProcess``), so a chatty tool can never block on a full pipe. `timeout` only bounds
    /// a hang: past it the tool is killed and the test fails with what it printed.
    static func run(
        _ executable: String, _ arguments: [String], in directory: URL? = nil, environment: [String: String]? = nil,
        timeout: Duration = .seconds(300)
    ) async throws -> Command {
        do {
            let result = try await ChildProcess.run(
                executable, arguments, in: directory, environment: environment, mergeOutput: true, timeout: timeout)
            return Command(status: result.status, output: result.output)
        } catch let failure as ChildProcess.Failure {
            throw HarnessError(failure.description)
        }
    }
}
