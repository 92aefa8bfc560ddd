import AlipayNotifyWebhooks
import Foundation
import StoreTestSupport
import Testing

/// Our Standard Webhooks signer and verifier, checked against fixed vectors and against the reference library.
@Suite("Standard Webhooks")
struct StandardWebhooksTests {
    /// Key bytes 0…31: `whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=`.
    static let secret = "whsec_" + Data((0..<32).map { UInt8($0) }).base64EncodedString()
    static let body = #"{"type":"contact.created","data":{"id":"1"}}"#

    @Test("the signature of a fixed message matches the reference library's (computed once with standardwebhooks 1.3.0)")
    func fixedVector() throws {
        let secret = try WebhookSecret(Self.secret)
        let signature = WebhookSigner.signature(id: "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", timestamp: 1_674_087_231, body: Data(Self.body.utf8), secrets: [secret])
        #expect(signature == "v1,6kbI7kW9xOobZlpLoZRVQE8Iq6liYDZ9X9L/SppNzDw=")
    }

    @Test("a delivery verifies; altered, forged, stale, early, or without headers it does not")
    func verification() throws {
        let now = Date()
        let timestamp = Int64(now.timeIntervalSince1970)
        let secret = try WebhookSecret(Self.secret)
        let verifier = try WebhookVerifier(secret: Self.secret)
        func headers(_ at: Int64, _ id: String = "evt_1", _ body: String = Self.body, secrets: [WebhookSecret]? = nil) -> [String: String] {
            Dictionary(uniqueKeysWithValues: WebhookSigner.headers(id: id, timestamp: at, body: Data(body.utf8), secrets: secrets ?? [secret]))
        }
        #expect(try verifier.verify(body: Data(Self.body.utf8), headers: headers(timestamp), now: now) == "evt_1")
        // Header names in any case.
        let upper = Dictionary(uniqueKeysWithValues: headers(timestamp).map { ($0.key.uppercased(), $0.value) })
        #expect(try verifier.verify(body: Data(Self.body.utf8), headers: upper, now: now) == "evt_1")
        #expect(throws: WebhookVerificationError.noMatchingSignature) {
            try verifier.verify(body: Data(Self.body.replacingOccurrences(of: "1", with: "2").utf8), headers: headers(timestamp), now: now)
        }
        let forger = WebhookSecret.generate()
        #expect(throws: WebhookVerificationError.noMatchingSignature) {
            try verifier.verify(body: Data(Self.body.utf8), headers: headers(timestamp, secrets: [forger]), now: now)
        }
        // The same signature under another id (a replayed body relabelled) fails.
        var relabelled = headers(timestamp)
        relabelled["webhook-id"] = "evt_2"
        #expect(throws: WebhookVerificationError.noMatchingSignature) { try verifier.verify(body: Data(Self.body.utf8), headers: relabelled, now: now) }
        #expect(throws: WebhookVerificationError.timestampTooOld) {
            try verifier.verify(body: Data(Self.body.utf8), headers: headers(timestamp - 301), now: now)
        }
        #expect(throws: WebhookVerificationError.timestampTooNew) {
            try verifier.verify(body: Data(Self.body.utf8), headers: headers(timestamp + 301), now: now)
        }
        #expect(throws: WebhookVerificationError.missingHeaders) { try verifier.verify(body: Data(Self.body.utf8), headers: [:], now: now) }
        var badTime = headers(timestamp)
        badTime["webhook-timestamp"] = "soon"
        #expect(throws: WebhookVerificationError.invalidTimestamp) { try verifier.verify(body: Data(Self.body.utf8), headers: badTime, now: now) }
    }

    @Test("while a secret rotates, a delivery signed with both verifies with either")
    func rotation() throws {
        let old = WebhookSecret.generate()
        let new = WebhookSecret.generate()
        let now = Date()
        let headers = Dictionary(
            uniqueKeysWithValues: WebhookSigner.headers(id: "evt_9", timestamp: Int64(now.timeIntervalSince1970), body: Data(Self.body.utf8), secrets: [new, old]))
        #expect(headers["webhook-signature"]?.split(separator: " ").count == 2)
        for secret in [old, new] {
            #expect(try WebhookVerifier(secret: secret.text).verify(body: Data(Self.body.utf8), headers: headers, now: now) == "evt_9")
        }
        #expect(throws: WebhookVerificationError.noMatchingSignature) {
            try WebhookVerifier(secret: WebhookSecret.generate().text).verify(body: Data(Self.body.utf8), headers: headers, now: now)
        }
    }

    @Test("secrets: whsec_ + base64 of 24…64 bytes; a bad one is refused without echoing it")
    func secrets() throws {
        let generated = WebhookSecret.generate()
        #expect(generated.text.hasPrefix("whsec_"))
        #expect(try WebhookSecret(generated.text) == generated)
        #expect(try WebhookSecret(String(generated.text.dropFirst(6))) == generated, "the prefix may be left out")
        #expect(!"\(generated)".contains(String(generated.text.dropFirst(6))), "description never shows the key")
        for bad in ["", "whsec_", "whsec_not base64!", "whsec_" + Data([1, 2, 3]).base64EncodedString()] {
            #expect(throws: WebhookSecretError.self) { try WebhookSecret(bad) }
        }
        #expect(!WebhookSecretError().description.contains("not base64"))
    }

    /// The independent check: the reference library verifies what we sign, and we verify what it signs.
    @Test("the standardwebhooks reference library (PyPI) verifies our deliveries, and we verify its signatures")
    func referenceLibrary() async throws {
        guard let python = StandardWebhooksReference.python() else { return }
        let now = Int64(Date().timeIntervalSince1970)
        let secret = WebhookSecret.generate()
        let rotatingOld = WebhookSecret.generate()
        let bodies = [Self.body, #"{"id":"evt_1","data":{"subject":"绿茶 & \"tea\""}}"#, "{}"]
        var lines: [String] = []
        var expectations: [Bool] = []
        for body in bodies {
            let signed = Dictionary(uniqueKeysWithValues: WebhookSigner.headers(id: "evt_ref", timestamp: now, body: Data(body.utf8), secrets: [secret, rotatingOld]))
            for (key, ok) in [(secret, true), (rotatingOld, true), (WebhookSecret.generate(), false)] {
                lines.append(try StandardWebhooksReference.line(["op": "verify", "secret": key.text, "body": body, "headers": signed]))
                expectations.append(ok)
            }
            var stale = Dictionary(uniqueKeysWithValues: WebhookSigner.headers(id: "evt_ref", timestamp: now - 600, body: Data(body.utf8), secrets: [secret]))
            lines.append(try StandardWebhooksReference.line(["op": "verify", "secret": secret.text, "body": body, "headers": stale]))
            expectations.append(false)
            lines.append(try StandardWebhooksReference.line(["op": "sign", "secret": secret.text, "id": "evt_py", "timestamp": now, "body": body]))
            expectations.append(true)
        }
        let answers = try await StandardWebhooksReference.run(python, lines)
        try #require(answers.count == lines.count, "the reference script answered \(answers.count) of \(lines.count)")
        var signIndex = 0
        for (index, answer) in answers.enumerated() {
            if let signature = answer["signature"] as? String {
                // What the reference library signed, our verifier accepts.
                let body = bodies[signIndex]
                signIndex += 1
                let headers = ["webhook-id": "evt_py", "webhook-timestamp": String(now), "webhook-signature": signature]
                #expect(try WebhookVerifier(secret: secret.text).verify(body: Data(body.utf8), headers: headers) == "evt_py")
                #expect(signature == WebhookSigner.signature(id: "evt_py", timestamp: now, body: Data(body.utf8), secrets: [secret]))
            } else {
                #expect(answer["ok"] as? Bool == expectations[index], "line \(index): \(lines[index].prefix(80)) → \(answer)")
            }
        }
    }
}
