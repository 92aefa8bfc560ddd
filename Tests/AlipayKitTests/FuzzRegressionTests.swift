import Foundation
import Testing

@testable import AlipayKit

/// Inputs the libFuzzer targets in Fuzz/ found, each pinned as the promise it broke (see Fuzz/README.md).
@Suite("Fuzz regressions: what scripts/fuzz found, kept fixed")
struct FuzzRegressionTests {
    /// The PEM armour broken the way FuzzKeys broke it: the BEGIN line loses its closing dashes, so the label would run
    /// on through the base64 body to the END line's dashes.
    static func unclosedBeginLines() throws -> [(String, String)] {
        var cases: [(String, String)] = []
        for file in ["app_private_pkcs8.pem", "app_private_pkcs1.pem", "alipay_private_pkcs8.pem", "alipay_public.pem"] {
            let pem = try Fixture.key(file)
            let begin = try #require(pem.range(of: "-----\n"), "\(file) has a BEGIN line")
            cases.append(("\(file), BEGIN line without '-----'", pem.replacingCharacters(in: begin, with: "\n")))
        }
        // The shape libFuzzer reached from ec_private.pem in 170 runs: "-----BEGIN PRIVATE KEY\0\0\0\0-".
        let ec = try Fixture.key("ec_private.pem")
        cases.append(("ec_private.pem, closing dashes overwritten", ec.replacingOccurrences(of: "PRIVATE KEY-----\n", with: "PRIVATE KEY\0\0\0\0-\n")))
        return cases
    }

    /// FuzzKeys: "malformed PEM: 'BEGIN <label>' without a matching 'END <label>'" repeated the whole key body twice,
    /// and the daemons print a KeyError at start-up, into the journal.
    @Test("a BEGIN line without its closing dashes is refused without repeating the key")
    func unclosedBeginLineKeepsTheKeyOutOfTheError() throws {
        for (label, text) in try Self.unclosedBeginLines() {
            for error in [KeysTests.privateKeyError(text, role: .appPrivateKey), KeysTests.publicKeyError(text)] {
                let error = try #require(error, "\(label) must be refused")
                #expect(error.problem.contains("PEM"), "\(label): the message should say the PEM armour is broken")
                Self.expectNoKeyMaterial(error, from: text, label: label)
            }
        }
    }

    /// FuzzNotification, crash-3e5781b1… ("?" then the bytes CD 93 7A F9 26 CD 93 7A F9 26): `verifyReturn` dropped the
    /// leading '?' by Character, and U+0353 (CD 93, a combining mark) makes "?\u{0353}" one Character, so the '?' stayed
    /// and became part of the first key. The query must lose exactly its first byte when that byte is '?'.
    @Test("a return_url query whose first key starts with a combining mark still loses its '?' and verifies")
    func returnQueryCombiningMarkAfterQuestionMark() throws {
        let parameters = [
            "\u{0353}note": "x", "out_trade_no": "O1", "trade_no": "T1", "total_amount": "88.88", "app_id": Fixture.appId,
            "charset": "utf-8", "method": "alipay.trade.page.pay.return", "timestamp": "2024-01-01 12:00:05",
        ]
        let body = try NotificationSigner.signedBody(parameters, key: Fixture.alipayPrivateKey())
        // A browser would percent-encode the mark; a raw request line may carry it as UTF-8, right after the '?'.
        let encodedPair = "%CD%93note=x"
        let rest = body.split(separator: "&").filter { $0 != encodedPair }
        #expect(rest.count == parameters.count + 1, "the signed body holds the pair as \(encodedPair)")
        let query = "?\u{0353}note=x&" + rest.joined(separator: "&")
        let verifier = NotificationVerifier(alipayPublicKey: try Fixture.alipayPublicKey(), appId: Fixture.appId)
        let result = try verifier.verifyReturn(query: query)
        #expect(result.parameters["\u{0353}note"] == "x")
        #expect(result.parameters["?\u{0353}note"] == nil)
        #expect(result.outTradeNo == "O1")
    }

    /// No 24-character run of the text's base64 lines appears in the message (the fuzz target's own bar is 40).
    static func expectNoKeyMaterial(_ error: KeyError, from text: String, label: String) {
        let lines = text.split(whereSeparator: \.isNewline).filter { !$0.contains("-----") && $0.count >= 24 }
        for line in lines {
            var start = line.startIndex
            while line.distance(from: start, to: line.endIndex) >= 24 {
                let end = line.index(start, offsetBy: 24)
                // A Bool, so a failure report shows no key either.
                let repeated = error.description.contains(line[start..<end])
                #expect(!repeated, "\(label): the error repeats key material")
                start = end
            }
        }
    }

    /// FuzzCertificates (a seed written while building the target): a combining mark right after the dashes of a
    /// BEGIN line made `String.range(of:)` miss that line, so the block silently vanished from the root SN (one group
    /// instead of two) and from the chain. Now the block is found, and its damaged body is refused by number.
    @Test("a combining mark after a BEGIN CERTIFICATE line is a damaged block, never a silently missing one")
    func combiningMarkAfterBeginLine() throws {
        let bundle = try CertificateVectors.pem("alipayRootCert.crt")
        var parts = bundle.components(separatedBy: "-----BEGIN CERTIFICATE-----")
        try #require(parts.count == 4, "three blocks in the fixture")
        parts[3] = "\u{0301}" + parts[3]
        let rootError = #expect(throws: CertificateError.self) {
            try AlipayRootCertificates(pem: parts.joined(separator: "-----BEGIN CERTIFICATE-----"))
        }
        #expect(rootError?.problem == "certificate 3 of the file is not valid base64")
        let chain = try CertificateVectors.pem("alipayCertPublicKey_RSA2.crt")
        let marked = chain.replacingOccurrences(of: "-----BEGIN CERTIFICATE-----\n", with: "-----BEGIN CERTIFICATE-----\u{0301}\n")
        #expect(throws: CertificateError.self) { try AlipayCertificate(pem: marked, role: .alipayCertificate) }
    }

    /// FuzzStatement: a lone CR ended a record and counted a line inside rows, but not between them, so a row's line
    /// number ran past the file's last line (the input is Fuzz/Corpus/FuzzStatement/regression-lone-cr-line).
    @Test("statement lines: CRLF, LF and a lone CR each count one line, wherever they stand")
    func statementLineNumbersWithLoneCR() throws {
        let text = "支付宝交易号,商户订单号,业务类型,订单金额（元）\r\r\n\"1\",2,交易,1.00\r\r3,4,退款,-0.01\n\n5,6,交易,2.00"
        let statement = try TradeStatement.parse(text: text)
        #expect(statement.rows.map(\.line) == [3, 5, 7])
        #expect(statement.rows.map(\.outTradeNo) == ["2", "4", "6"])
    }
}
