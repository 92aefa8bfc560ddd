import PropertyBased

/// One single-byte change to a body: the position is taken modulo the body's length.
struct Mutation: Sendable, CustomStringConvertible {
    /// Any byte, a "near miss" (letter case, '+' ↔ space, a neighbouring digit) or a form metacharacter.
    enum Kind: Int, Sendable, CaseIterable { case anyByte, nearMiss, metacharacter }

    /// Bytes that mean something to a form decoder, plus a few that are not UTF-8 on their own.
    static let metacharacters = Array("%&=+ 0aAfFgG".utf8) + [0x00, 0x80, 0xFF]

    /// Any position, any kind, any byte.
    static let any = zip(Gen.int(in: 0...1_000_000), Gen<Kind>.case, Gen.uint8()).map { position, kind, byte in
        Mutation(position: position, kind: kind, byte: byte)
    }

    /// Where to change, modulo the body's length.
    var position: Int
    /// How to pick the new byte.
    var kind: Kind
    /// The new byte for `.anyByte` (and the fallback and selector of the other kinds).
    var byte: UInt8

    var description: String { "\(kind)@\(position):\(byte)" }

    /// The body with the byte at `position % count` replaced by a different one, and where and what changed.
    func apply(to body: [UInt8]) -> (index: Int, old: UInt8, new: UInt8, body: [UInt8]) {
        let index = position % body.count
        let old = body[index]
        var new: UInt8
        switch kind {
        case .anyByte:
            new = byte
        case .nearMiss:
            switch old {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"): new = old ^ 0x20
            case UInt8(ascii: "+"): new = UInt8(ascii: " ")
            case UInt8(ascii: "0")...UInt8(ascii: "8"): new = old + 1
            case UInt8(ascii: "9"): new = UInt8(ascii: "0")
            default: new = byte
            }
        case .metacharacter:
            new = Self.metacharacters[Int(byte) % Self.metacharacters.count]
        }
        if new == old { new = old &+ 1 }
        var mutated = body
        mutated[index] = new
        return (index, old, new, mutated)
    }
}
