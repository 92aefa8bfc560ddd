import Foundation

/// What a job of an open kind carries in its `payload` column, as JSON text.
public protocol JobPayload: Codable, Sendable {}

extension JobPayload {
    /// The JSON text stored on the job.
    public var text: String { String(decoding: try! JSONEncoder().encode(self), as: UTF8.self) }

    /// The payload of a stored job; nil when it has none or it is not one of these.
    public static func decoded(_ text: String?) -> Self? {
        guard let text else { return nil }
        return try? JSONDecoder().decode(Self.self, from: Data(text.utf8))
    }
}
