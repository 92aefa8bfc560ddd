/// Why a decimal amount string was refused.
public struct AmountError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The text that was refused (amounts are not secret).
    public let input: String
    /// What is wrong with it.
    public let problem: String

    /// Creates an amount error.
    public init(input: String, problem: String) {
        self.input = input
        self.problem = problem
    }

    /// "invalid amount "1e2": <problem>".
    public var description: String { "invalid amount \"\(input)\": \(problem)" }
}

/// A sum of money in integer fen (分), parsed exactly from and written as Alipay's yuan string ("88.88").
public struct Amount: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// The amount in fen: 88.88 yuan is 8888.
    public let fen: Int64

    /// An amount of `fen` fen.
    public init(fen: Int64) {
        self.fen = fen
    }

    /// Parses a yuan string exactly: digits, optionally a dot and one or two digits ("88.88", "0.01", "100", "1.5").
    ///
    /// Refuses everything a float parser would let through: "", "1e2", "-1", "+1", " 1", "1.", ".5", "0x1",
    /// redundant leading zeros ("007.10": Alipay never writes them, so such a string did not come from Alipay),
    /// more than two decimals ("88.888") and values that overflow.
    public init(_ yuan: String) throws(AmountError) {
        let bytes = Array(yuan.utf8)
        guard !bytes.isEmpty else { throw AmountError(input: yuan, problem: "empty") }
        let dot = bytes.firstIndex(of: UInt8(ascii: "."))
        let integerPart = bytes[..<(dot ?? bytes.count)]
        let fractionPart = dot.map { bytes[($0 + 1)...] } ?? []
        guard !integerPart.isEmpty else { throw AmountError(input: yuan, problem: "no digits before the decimal point") }
        guard integerPart.allSatisfy(Self.isDigit), fractionPart.allSatisfy(Self.isDigit) else {
            throw AmountError(input: yuan, problem: "only digits and one decimal point are allowed")
        }
        if integerPart.count > 1, integerPart.first == UInt8(ascii: "0") {
            throw AmountError(input: yuan, problem: "redundant leading zero")
        }
        if dot != nil, fractionPart.isEmpty { throw AmountError(input: yuan, problem: "no digits after the decimal point") }
        guard fractionPart.count <= 2 else { throw AmountError(input: yuan, problem: "more than two decimals") }
        var fen: Int64 = 0
        for digit in integerPart {
            let (times10, overflow1) = fen.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(Int64(digit - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { throw AmountError(input: yuan, problem: "too large") }
            fen = sum
        }
        var fraction: Int64 = 0
        for (position, digit) in fractionPart.enumerated() {
            fraction += Int64(digit - UInt8(ascii: "0")) * (position == 0 ? 10 : 1)
        }
        let (scaled, overflow1) = fen.multipliedReportingOverflow(by: 100)
        let (total, overflow2) = scaled.addingReportingOverflow(fraction)
        guard !overflow1, !overflow2 else { throw AmountError(input: yuan, problem: "too large") }
        self.fen = total
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    /// Always two decimals: "88.88", "100.00", "0.01".
    public var description: String {
        let sign = fen < 0 ? "-" : ""
        let magnitude = fen.magnitude
        let cents = magnitude % 100
        return "\(sign)\(magnitude / 100).\(cents < 10 ? "0" : "")\(cents)"
    }

    /// Orders by value.
    public static func < (lhs: Amount, rhs: Amount) -> Bool { lhs.fen < rhs.fen }

    /// Decodes the JSON string "88.88" (Alipay never sends amounts as JSON numbers).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            try self.init(text)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    /// Encodes as the JSON string "88.88".
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
