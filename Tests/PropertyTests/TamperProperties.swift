import AlipayKit
import Foundation
import PropertyBased
import Testing

/// Property 2: no single-byte change turns a signed notification into a different one that still verifies.
@Suite("A tampered notification never verifies as a different one")
struct TamperProperties {
    /// UTF-8 bodies only: `ReferenceForm` knows UTF-8 validity, not GBK's (GBK bodies are covered by the round trip).
    @Test("any single-byte change is refused, unless ReferenceForm shows the body still says exactly the same")
    func singleByteChanges() async {
        await propertyCheck(count: 200, input: NotificationGen.utf8, Mutation.any.array(of: 24)) { notification, mutations in
            let body = Array(
                try NotificationSigner.signedBody(notification.parameters, key: PropertyFixtures.alipayKey, signType: notification.signType)
                    .utf8)
            let verifier = PropertyFixtures.verifier(notification.signType)
            let meaning = try #require(ReferenceForm(body, configured: notification.signType))
            _ = try verifier.verify(body: body)

            for mutation in mutations {
                let change = mutation.apply(to: body)
                let same = ReferenceForm(change.body, configured: notification.signType) == meaning
                let what = "byte \(change.index) \(change.old) → \(change.new) in …\(Self.window(change.body, around: change.index))…"
                do throws(NotificationError) {
                    let verified = try verifier.verify(body: change.body)
                    #expect(same, "verified although the body now says something else: \(what)")
                    var read = verified.parameters.filter { !$0.value.isEmpty }
                    read["sign"] = nil
                    read["sign_type"] = nil
                    #expect(SignVerifyProperties.bytes(read) == meaning.parameters, "verified with other content: \(what)")
                } catch {
                    #expect(!same, "refused a change that means nothing (\(error)): \(what)")
                }
            }
        }
    }

    @Test("the oracle itself: each kind of no-op change verifies, each kind of real change is refused")
    func knownChanges() throws {
        var parameters = NotificationGen.fixedParameters
        parameters["subject"] = "中 a+b"
        parameters["memo"] = ""
        let body = Array(try NotificationSigner.signedBody(parameters, key: PropertyFixtures.alipayKey).utf8)
        let meaning = try #require(ReferenceForm(body, configured: .rsa2))
        let verifier = PropertyFixtures.verifier(.rsa2)

        // The signature's last base64 group "Xy==" carries 4 unused bits in y: another y with the same top bits
        // decodes to the same 256 bytes (Foundation's decoder does not insist that unused bits be zero).
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        let padded = try #require(body.firstRange(of: Array("%3D%3D".utf8))).lowerBound - 1
        let sixBits = try #require(alphabet.firstIndex(of: body[padded]))
        let samePadBits = alphabet[(sixBits & 0b110000) | ((sixBits + 1) & 0b001111)]

        let noOps: [(String, Int, UInt8)] = [
            ("hex digit case in %E4", try Self.offset(of: "subject=%E4", in: body) + 9, UInt8(ascii: "e")),
            ("'+' as a raw space", try Self.offset(of: "subject=%E4%B8%AD+", in: body) + 17, UInt8(ascii: " ")),
            ("'%2B' as '%2b'", try Self.offset(of: "+a%2B", in: body) + 4, UInt8(ascii: "b")),
            ("sign_type letter case", try Self.offset(of: "sign_type=RSA2", in: body) + 10, UInt8(ascii: "r")),
            ("'=' of sign_type (absent means the configured type)", try Self.offset(of: "sign_type=", in: body) + 9, UInt8(ascii: "x")),
            ("the key of an empty value", try Self.offset(of: "memo=&", in: body) + 3, UInt8(ascii: "x")),
            ("unused bits of the signature's last base64 digit", padded, samePadBits),
        ]
        for (what, index, byte) in noOps {
            var changed = body
            changed[index] = byte
            #expect(ReferenceForm(changed, configured: .rsa2) == meaning, "oracle: \(what)")
            #expect(throws: Never.self, "\(what)") { try verifier.verify(body: changed) }
        }

        let changes: [(String, Int, UInt8)] = [
            ("a digit of total_amount", try Self.offset(of: "total_amount=", in: body) + 13, UInt8(ascii: "9")),
            ("hex digit value in %E4", try Self.offset(of: "subject=%E4", in: body) + 10, UInt8(ascii: "5")),
            ("letter case outside an escape", try Self.offset(of: "+a%2B", in: body) + 1, UInt8(ascii: "A")),
            ("'+' into a literal '%'", try Self.offset(of: "subject=%E4%B8%AD+", in: body) + 17, UInt8(ascii: "%")),
            ("'&' joining two parameters", try Self.offset(of: "&subject=", in: body), UInt8(ascii: "x")),
            ("a base64 digit of the signature", try Self.offset(of: "&sign=", in: body) + 7, UInt8(ascii: "A")),
            ("sign_type's value", try Self.offset(of: "sign_type=RSA2", in: body) + 13, UInt8(ascii: "1")),
            ("the empty value's '=' into '%'", try Self.offset(of: "memo=&", in: body) + 4, UInt8(ascii: "%")),
        ]
        for (what, index, byte) in changes {
            var changed = body
            if changed[index] == byte { changed[index] = UInt8(ascii: "B") } else { changed[index] = byte }
            #expect(ReferenceForm(changed, configured: .rsa2) != meaning, "oracle: \(what)")
            #expect(throws: NotificationError.self, "\(what)") { try verifier.verify(body: changed) }
        }
    }

    static func offset(of text: String, in body: [UInt8]) throws -> Int {
        try #require(body.firstRange(of: Array(text.utf8)), "\(text) in the signed body").lowerBound
    }

    /// Up to 24 bytes either side of `index`, for failure messages (a signed body is ASCII).
    static func window(_ body: [UInt8], around index: Int) -> String {
        String(decoding: body[max(0, index - 24)..<min(body.count, index + 24)], as: UTF8.self).debugDescription
    }
}
