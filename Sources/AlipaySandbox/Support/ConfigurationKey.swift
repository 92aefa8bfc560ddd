/// A configuration key with the environment variable and flag that set it (`sandbox.appId`, `SANDBOX_APP_ID`, `--app-id`).
public struct ConfigurationKey: Sendable, Hashable {
    /// The dotted key, e.g. `sandbox.appId`.
    public let key: String

    /// Wraps a dotted key.
    public init(_ key: String) { self.key = key }

    /// The environment variable swift-configuration maps the key to: `sandbox.appId` ⇒ `SANDBOX_APP_ID`.
    public var environment: String {
        key.split(separator: ".").map { Self.words(String($0)).joined(separator: "_").uppercased() }.joined(separator: "_")
    }

    /// The command-line flag: the last component in kebab case, `--app-id`.
    public var flag: String {
        "--" + Self.words(String(key.split(separator: ".").last ?? "")).joined(separator: "-").lowercased()
    }

    private static func words(_ component: String) -> [String] {
        var words: [String] = []
        var current = ""
        var previousWasLower = false
        for character in component {
            if character.isUppercase, previousWasLower {
                words.append(current)
                current = ""
            }
            current.append(character)
            previousWasLower = character.isLowercase || character.isNumber
        }
        if !current.isEmpty { words.append(current) }
        return words
    }
}
