/// Whether text holds a run of bytes, compared byte for byte.
///
/// On the notification hot path: Foundation's `contains` goes through `CFStringFind` with a locale, and the standard
/// library's generic `firstRange(of:)` resolves generic metadata at run time on every call (7 % of the receiver's
/// CPU in a profile). A plain loop over the UTF-8 bytes does neither.
enum ByteSearch {
    static func contains(_ text: String, _ needle: StaticString) -> Bool {
        var text = text
        return text.withUTF8 { contains($0, needle) }
    }

    static func contains(_ text: Substring, _ needle: StaticString) -> Bool {
        var text = text
        return text.withUTF8 { contains($0, needle) }
    }

    static func contains(_ haystack: UnsafeBufferPointer<UInt8>, _ needle: StaticString) -> Bool {
        needle.withUTF8Buffer { needle in
            guard let first = needle.first else { return true }
            guard haystack.count >= needle.count else { return false }
            var index = 0
            let last = haystack.count - needle.count
            while index <= last {
                if haystack[index] == first {
                    var matched = 1
                    while matched < needle.count, haystack[index + matched] == needle[matched] { matched += 1 }
                    if matched == needle.count { return true }
                }
                index += 1
            }
            return false
        }
    }
}
