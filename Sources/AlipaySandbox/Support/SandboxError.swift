/// What can stop the sandbox from starting or from keeping its state; every message says what to fix.
public enum SandboxError: Error, CustomStringConvertible, Sendable, Equatable {
    /// A required configuration key has no value.
    case missingConfiguration(key: String, environment: String, flag: String)
    /// A configuration value exists but is unusable.
    case invalidConfiguration(key: String, problem: String)
    /// The fault specification (`SANDBOX_FAULTS`, `--faults` or `POST /sandbox/faults`) does not parse.
    case invalidFaults(String)
    /// The state file cannot be read or written.
    case stateFile(path: String, problem: String)
    /// `keys --dir` could not write the key pair.
    case keyFiles(directory: String, problem: String)

    /// One line for a person; never contains key material.
    public var description: String {
        switch self {
        case .missingConfiguration(let key, let environment, let flag):
            return "missing configuration \(key): set \(environment) or pass \(flag)"
        case .invalidConfiguration(let key, let problem):
            return "invalid configuration \(key): \(problem)"
        case .invalidFaults(let problem):
            return "invalid fault specification: \(problem)"
        case .stateFile(let path, let problem):
            return "state file \(path): \(problem)"
        case .keyFiles(let directory, let problem):
            return "key directory \(directory): \(problem)"
        }
    }
}
