import Foundation
import NIOPosix
import NotifyStore
import PostgresNIO

/// PostgresNIO's errors in the contract's terms, so that no SQLSTATE reaches the domain.
///
/// `PSQLError`'s own description is deliberately generic; the messages here are built from the server's SQLSTATE and
/// message fields only, which never contain the connection password (the URL is never part of a message either).
enum PostgresErrors {
    /// Translates an error raised while talking to PostgreSQL. Errors of the caller's own (a domain failure thrown out
    /// of a unit of work, `StoreError.leaseLost`, cancellation) pass through unchanged.
    static func translate(_ error: any Error) -> any Error {
        switch error {
        case let error as StoreError:
            return error
        case let error as PSQLError:
            return translate(error)
        case let error as PostgresDecodingError:
            // A column did not have the type this build expects: a schema mismatch, not worth retrying quickly.
            return StoreError.unavailable(
                "PostgreSQL: cannot decode column \(error.columnName) (\(error.code)) as \(error.targetType)")
        case is NIOThreadPoolError.ThreadPoolInactive:
            return StoreError.unavailable("PostgreSQL: the store is closed")
        default:
            return error
        }
    }

    /// A driver error as a `StoreError`: what ``translate(_:)-swift.type.method`` gives, and `unavailable` for
    /// anything else the driver may throw (an event loop shut down, a closed channel).
    /// True for an error the server sent (SQLSTATE): the connection is still healthy after it.
    static func isServerError(_ error: any Error) -> Bool {
        (error as? PSQLError)?.code == .server
    }

    static func storeError(_ error: any Error) -> StoreError {
        if let translated = translate(error) as? StoreError { return translated }
        return .unavailable("PostgreSQL: \(String(describing: error).prefix(200))")
    }

    /// One `PSQLError` as a `StoreError`: unique violation → duplicate, other integrity violations → constraint,
    /// contention and timeouts → busy, everything else (connection lost, server shutting down…) → unavailable.
    static func translate(_ error: PSQLError) -> StoreError {
        if error.code == .server, let sqlState = error.serverInfo?[.sqlState] {
            let message = error.serverInfo?[.message] ?? "no message"
            switch sqlState {
            case "23505":
                return .duplicate(message)
            case "23514" where message.hasPrefix("over_refund"):
                return .overRefund(message)
            case _ where sqlState.hasPrefix("23"):
                return .constraint("PostgreSQL: \(sqlState) \(message)")
            case "40001", "40P01", "55P03", "57014":
                // Serialization failure, deadlock, lock not available, statement timeout: try again soon.
                return .busy("PostgreSQL: \(sqlState) \(message)")
            default:
                return .unavailable("PostgreSQL: \(sqlState) \(message)")
            }
        }
        return .unavailable("PostgreSQL: \(clientSideReason(error))")
    }

    /// A short reason for an error that did not come from the server (connection refused, closed, TLS…).
    static func clientSideReason(_ error: PSQLError) -> String {
        var reason = "\(error.code)"
        if let underlying = error.underlying {
            // Socket and TLS errors: errno texts and certificate problems, never credentials.
            reason += " (\(String(describing: underlying).prefix(200)))"
        }
        return reason
    }

    /// A reason for a failure to connect at start-up, for `StoreError.cannotOpen`: the server's message when it
    /// answered (bad password, unknown database), the socket error otherwise. `password` is scrubbed in case any
    /// layer echoed it.
    static func connectFailureReason(_ error: any Error, password: String?) -> String {
        let reason: String
        switch error {
        case let error as PSQLError:
            if error.code == .server, let sqlState = error.serverInfo?[.sqlState] {
                reason = "\(sqlState) \(error.serverInfo?[.message] ?? "no message")"
            } else {
                reason = clientSideReason(error)
            }
        case let error as StoreError:
            reason = "\(error)"
        default:
            reason = String(describing: error).prefix(300).description
        }
        guard let password, !password.isEmpty else { return reason }
        return reason.replacingOccurrences(of: password, with: "***")
    }
}
