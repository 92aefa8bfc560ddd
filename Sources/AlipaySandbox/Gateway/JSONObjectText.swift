import AlipayKit

/// Writes one JSON object with its keys in the order they were added, the way Alipay lays out a response node.
///
/// The gateway signs the raw text of the node, so the sandbox writes that text itself instead of trusting an
/// encoder's key order or its escaping of `/`. Non-ASCII text is written as UTF-8, as Alipay does.
struct JSONObjectText: Sendable {
    private var members: [String] = []

    /// Adds `"key":"value"`; a nil value adds nothing, as Alipay leaves empty fields out.
    mutating func add(_ key: String, _ value: String?) {
        guard let value else { return }
        members.append("\(Self.quoted(key)):\(Self.quoted(value))")
    }

    /// Adds `"key":<json>` where `json` is already JSON text (an array or object).
    mutating func addRaw(_ key: String, _ json: String) {
        members.append("\(Self.quoted(key)):\(json)")
    }

    /// The object's text.
    var text: String { "{" + members.joined(separator: ",") + "}" }

    /// A JSON string literal for `value` (AlipayKit's, the one the order event payloads use too).
    static func quoted(_ value: String) -> String {
        JSONStringLiteral.quoted(value)
    }
}
