import Foundation
import Testing

@testable import AlipayKit

@Suite("Amounts are integer fen parsed exactly from Alipay's decimal strings")
struct AmountTests {
    @Test("valid amounts", arguments: [
        ("88.88", Int64(8888)), ("0.01", 1), ("0", 0), ("0.00", 0), ("100", 10000), ("1.5", 150), ("1.50", 150),
        ("100000000.00", 10_000_000_000), ("0.10", 10), ("92233720368547758.07", Int64.max),
    ])
    func valid(text: String, fen: Int64) throws {
        #expect(try Amount(text).fen == fen)
    }

    @Test("invalid amounts", arguments: [
        "", "1e2", "-1", "+1", " 1", "1 ", "1.", ".5", "0x1", "88.888", "1,00", "1.2.3", "١٢", "１", "NaN", "inf",
        "92233720368547758.08", "99999999999999999999", "1.-1", "--1", "1_000", "007.10", "00", "01", "00.5",
    ])
    func invalid(text: String) {
        #expect(throws: AmountError.self) { try Amount(text) }
    }

    @Test("description always has two decimals")
    func description() {
        #expect(Amount(fen: 8888).description == "88.88")
        #expect(Amount(fen: 10000).description == "100.00")
        #expect(Amount(fen: 1).description == "0.01")
        #expect(Amount(fen: 0).description == "0.00")
        #expect(Amount(fen: 150).description == "1.50")
        #expect(Amount(fen: -5).description == "-0.05")
    }

    @Test("Codable as the JSON string, never a number")
    func codable() throws {
        #expect(String(decoding: try JSONEncoder().encode([Amount(fen: 8888)]), as: UTF8.self) == "[\"88.88\"]")
        #expect(try JSONDecoder().decode([Amount].self, from: Data("[\"0.01\"]".utf8)) == [Amount(fen: 1)])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([Amount].self, from: Data("[88.88]".utf8)) }
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([Amount].self, from: Data("[\"1e2\"]".utf8)) }
    }

    @Test("errors say what was refused")
    func errorMessage() {
        #expect(throws: AmountError(input: "88.888", problem: "more than two decimals")) { try Amount("88.888") }
        #expect(Amount(fen: 1) < Amount(fen: 2))
    }
}
