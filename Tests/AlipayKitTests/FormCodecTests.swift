import Foundation
import Testing

@testable import AlipayKit

@Suite("Form decoding: exactly once, literal keys, repeated keys refused, charset-aware")
struct FormCodecTests {
    @Test("semantics table", arguments: [
        ("a=1&b=2", ["a": "1", "b": "2"]),
        ("a=x+y", ["a": "x y"]),
        ("a=x%2By", ["a": "x+y"]),
        ("a=x%2by", ["a": "x+y"]),
        ("a=%252B", ["a": "%2B"]),  // decoded once: never a second time
        ("a=%25", ["a": "%"]),
        ("a=1%262%3D3", ["a": "1&2=3"]),
        ("a=b=c", ["a": "b=c"]),
        ("a=", ["a": ""]),
        ("a", ["a": ""]),
        ("a[b]=1&a[c]=2", ["a[b]": "1", "a[c]": "2"]),  // keys are literal: no nesting
        ("a%5Bb%5D=1", ["a[b]": "1"]),
        ("a.b=1&a_b=2", ["a.b": "1", "a_b": "2"]),
        ("x+y=1", ["x y": "1"]),
        ("a=1&&b=2&", ["a": "1", "b": "2"]),
        ("", [:]),
        ("s=%E4%B8%AD%E6%96%87", ["s": "中文"]),
        ("s=%F0%9F%8E%89", ["s": "🎉"]),
        ("s=中文", ["s": "中文"]),  // raw UTF-8 bytes are taken as they are
        ("s=%0D%0A%09", ["s": "\r\n\t"]),
    ])
    func semantics(body: String, expected: [String: String]) throws {
        #expect(try FormCodec.decode(body).dictionary == expected)
    }

    @Test("refused bodies", arguments: [
        ("a=1&a=2", FormError.Kind.duplicateKey),
        ("a=1&a=1", .duplicateKey),
        ("a=1&b=2&a=", .duplicateKey),
        ("a%3D=1&a%3d=2", .duplicateKey),
        ("caf%C3%A9=1&cafe%CC%81=2", .duplicateKey),  // equal as Strings (canonical equivalence): still one key twice
        ("a=%ZZ", .badPercentEncoding),
        ("a=%4", .badPercentEncoding),
        ("a=%", .badPercentEncoding),
        ("a=%%41", .badPercentEncoding),
        ("%G1=1", .badPercentEncoding),
        ("=1", .emptyKey),
        ("s=%FF%FE", .badCharsetBytes),
        ("charset=big5&s=1", .unsupportedCharset),
        ("charset=GBK&s=%FF%FF", .badCharsetBytes),
    ])
    func refused(body: String, kind: FormError.Kind) {
        #expect {
            _ = try FormCodec.decode(body)
        } throws: { error in
            (error as? FormError)?.kind == kind
        }
    }

    @Test("error messages name the key, never the value")
    func messages() {
        #expect(throws: FormError(.duplicateKey, "the key 'out_trade_no' appears more than once")) {
            try FormCodec.decode("out_trade_no=secret1&out_trade_no=secret2")
        }
        do {
            _ = try FormCodec.decode("subject=SECRET%ZZ")
        } catch {
            #expect(error.message.contains("'subject'"))
            #expect(!error.message.contains("SECRET"))
        }
    }

    @Test("GBK bodies decode to strings and keep their GBK bytes for the sign string")
    func gbk() throws {
        // 测试 in GBK is B2 E2 CA D4.
        let form = try FormCodec.decode("charset=GBK&subject=%B2%E2%CA%D4&sign=x")
        #expect(form.charset == "gbk")
        #expect(form["subject"] == "测试")
        #expect(form.pairs.first { $0.key == Array("subject".utf8) }?.value == [0xB2, 0xE2, 0xCA, 0xD4])
        #expect(form.notificationSignBytes == Array("charset=GBK&subject=".utf8) + [0xB2, 0xE2, 0xCA, 0xD4])
        #expect(try FormCodec.decode("charset=gb2312&s=%B2%E2")["s"] == "测")
        #expect(try FormCodec.decode("charset=utf-8&s=%E6%B5%8B")["s"] == "测")
        #expect(try FormCodec.decode("charset=UTF-8&s=1").charset == "utf-8")
    }

    @Test("encode: RFC 3986 unreserved kept, everything else %XX, space as %20, keys sorted; decode inverts it")
    func encode() throws {
        let parameters = ["b": "x y+z&=%/?#中", "a": "-._~AZaz09", "c": ""]
        let encoded = FormCodec.encode(parameters)
        #expect(encoded == "a=-._~AZaz09&b=x%20y%2Bz%26%3D%25%2F%3F%23%E4%B8%AD&c=")
        #expect(try FormCodec.decode(encoded).dictionary == parameters)
    }
}

@Suite("ByteSearch: the hot path's substring check")
struct ByteSearchTests {
    @Test("finds a run of bytes anywhere, after a partial match, and nothing that is not there")
    func finds() {
        #expect(ByteSearch.contains("&quot;", "&quot;"))
        #expect(ByteSearch.contains("[{&quot;amount", "&quot;"))
        #expect(ByteSearch.contains("x&&quo&quot;", "&quot;"))
        #expect(ByteSearch.contains("abc\\/", "\\/"))
        #expect(!ByteSearch.contains("&quo", "&quot;"))
        #expect(!ByteSearch.contains("", "&quot;"))
        #expect(!ByteSearch.contains("&QUOT;", "&quot;"))
        #expect(!ByteSearch.contains("a/\\b", "\\/"))
        #expect(ByteSearch.contains("支付&quot;宝", "&quot;"))
        let text = "0123&quot;"
        #expect(ByteSearch.contains(text.dropFirst(4), "&quot;"))
        #expect(!ByteSearch.contains(text.dropLast(1), "&quot;"))
    }
}
