import Foundation

/// Reads the text fields of a `multipart/form-data` body, the way the official Java SDK posts requests that carry
/// files; the gateway accepts it for every method. File parts are skipped: none of the sandbox's methods takes one.
enum MultipartForm {
    /// Why a multipart body was refused.
    struct Problem: Error, Sendable {
        let message: String
    }

    /// The `boundary` parameter of a `multipart/form-data` Content-Type; nil when it is not one.
    static func boundary(contentType: String) -> String? {
        let parts = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.first?.lowercased() == "multipart/form-data" else { return nil }
        for part in parts.dropFirst() where part.lowercased().hasPrefix("boundary=") {
            var value = String(part.dropFirst("boundary=".count))
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            return value.isEmpty ? nil : value
        }
        return nil
    }

    /// The text fields, values decoded as UTF-8; a repeated field or a malformed part is a problem.
    static func fields(_ body: [UInt8], boundary: String) throws(Problem) -> [String: String] {
        let delimiter = Array("--\(boundary)".utf8)
        var fields: [String: String] = [:]
        var parts: [ArraySlice<UInt8>] = []
        var cursor = 0
        var partStart: Int?
        while let found = find(delimiter, in: body, from: cursor) {
            if let start = partStart { parts.append(body[start..<found]) }
            var next = found + delimiter.count
            // "--boundary--" closes the body.
            if body.count >= next + 2, body[next] == UInt8(ascii: "-"), body[next + 1] == UInt8(ascii: "-") {
                partStart = nil
                break
            }
            if body.count >= next + 2, body[next] == 13, body[next + 1] == 10 { next += 2 }
            partStart = next
            cursor = next
        }
        guard partStart == nil, !parts.isEmpty else { throw Problem(message: "the multipart body does not end with its closing boundary") }
        for part in parts {
            guard let split = find([13, 10, 13, 10], in: Array(part), from: 0) else {
                throw Problem(message: "a multipart part has no blank line after its headers")
            }
            let bytes = Array(part)
            let headers = String(decoding: bytes[..<split], as: UTF8.self)
            var value = Array(bytes[(split + 4)...])
            if value.count >= 2, value[value.count - 2] == 13, value[value.count - 1] == 10 { value.removeLast(2) }
            guard let disposition = headers.split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("content-disposition:") }),
                let name = disposition.firstMatch(of: #/[; ]name="([^"]*)"/#)?.1
            else { throw Problem(message: "a multipart part has no Content-Disposition name") }
            if disposition.contains("filename=") { continue }
            guard let text = String(validating: value, as: UTF8.self) else {
                throw Problem(message: "the value of '\(name)' is not valid utf-8")
            }
            guard fields.updateValue(text, forKey: String(name)) == nil else {
                throw Problem(message: "the key '\(name)' appears more than once")
            }
        }
        return fields
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard !needle.isEmpty, haystack.count >= needle.count, start <= haystack.count - needle.count else { return nil }
        var index = start
        while index <= haystack.count - needle.count {
            if haystack[index] == needle[0], haystack[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }
}
