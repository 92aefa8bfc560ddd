import Foundation
import NotifyStore

/// Why a job did not finish, classified the way the retry policy needs it.
///
/// Retryable failures go back to pending at `now + backoff`; permanent ones go dead at once with the message as
/// the reason. Both messages are for operators: they say what failed and, where it helps, what to do.
public enum JobFailure: Error, CustomStringConvertible, Sendable, Equatable {
    /// Transient: a gateway timeout or 5xx, `20000`, `ACQ.SYSTEM_ERROR`, a bad response signature, malformed JSON,
    /// a busy database. Trying again later may succeed.
    case retryable(String)
    /// Trying again cannot help until someone changes something: invalid data, a configuration error.
    case permanent(String)

    public var description: String {
        switch self {
        case .retryable(let message), .permanent(let message): message
        }
    }

    /// Classifies any error thrown while running a job; `nil` means the lease was lost (nothing more to record).
    public static func classify(_ error: any Error) -> JobFailure? {
        switch error {
        case let failure as JobFailure:
            return failure
        case StoreError.leaseLost:
            return nil
        case let error as StoreError:
            // Busy and unavailable heal by themselves; a constraint or a missing row might after an operator's fix,
            // and maxAttempts still bounds them.
            return .retryable(error.description)
        case is CancellationError:
            return .retryable("interrupted (worker shutting down)")
        default:
            // Unknown errors are retried, so a bug fixed by a deploy heals; maxAttempts still bounds them.
            return .retryable(String(describing: error))
        }
    }
}


