import Foundation
import NotifyStore

#if canImport(Glibc)
    import Glibc
#endif

/// Where order events may be sent (`webhooks.allowInsecureUrls`, `webhooks.allowPrivateNetworks`).
///
/// A URL is checked when an endpoint is added (scheme, host, no credentials or fragment), and its host's addresses
/// are checked again before every delivery: a name that resolved to a public address when the endpoint was added
/// may point at `127.0.0.1` or the cloud metadata service later (DNS rebinding). What remains is the moment between
/// this check and the HTTP client's own lookup; docs/webhooks.md says how an egress proxy closes it.
public struct EndpointPolicy: Sendable {
    /// Accept `http://` URLs.
    public var allowInsecureUrls: Bool
    /// Accept hosts whose addresses are loopback, private, link-local, shared or otherwise not public.
    public var allowPrivateNetworks: Bool

    /// A policy from its parts.
    public init(allowInsecureUrls: Bool = false, allowPrivateNetworks: Bool = false) {
        self.allowInsecureUrls = allowInsecureUrls
        self.allowPrivateNetworks = allowPrivateNetworks
    }

    /// The policy of `webhooks.*`.
    public init(_ webhooks: NotifyConfiguration.Webhooks) {
        self.init(allowInsecureUrls: webhooks.allowInsecureUrls, allowPrivateNetworks: webhooks.allowPrivateNetworks)
    }

    /// The URL, when it may be an endpoint's; otherwise an error naming what is wrong.
    public func validate(_ text: String) throws(EndpointError) -> URL {
        guard text.count <= 2048, let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            let host = components.host, !host.isEmpty, let url = components.url
        else { throw EndpointError("\"\(text.prefix(200))\" is not an absolute URL") }
        switch scheme {
        case "https": break
        case "http" where allowInsecureUrls: break
        case "http": throw EndpointError("\(text): endpoints must be https:// (webhooks.allowInsecureUrls allows http:// for development)")
        default: throw EndpointError("\(text): the scheme must be https")
        }
        if components.user != nil || components.password != nil {
            throw EndpointError("endpoint URLs carry no user or password (authenticate deliveries with the webhook secret)")
        }
        if components.fragment != nil { throw EndpointError("\(text): an endpoint URL has no #fragment") }
        return url
    }

    /// Resolves the URL's host and refuses it when an address is not public and private networks are not allowed.
    /// Every address must pass: a name with one public and one private address is refused.
    public func checkAddresses(of url: URL) async throws(EndpointError) {
        guard !allowPrivateNetworks else { return }
        guard let host = url.host else { throw EndpointError("\(url) has no host") }
        let addresses = try await Self.resolve(host)
        guard !addresses.isEmpty else { throw EndpointError("\(host) resolves to no address") }
        if let refused = addresses.first(where: { !$0.isPublic }) {
            throw EndpointError(
                "\(host) resolves to \(refused.text), a \(refused.kind) address: refused (webhooks.allowPrivateNetworks allows it for development)")
        }
    }

    /// One address a host name resolved to.
    public struct ResolvedAddress: Sendable, Equatable {
        /// The bytes: 4 for IPv4, 16 for IPv6.
        public var bytes: [UInt8]

        /// An address from its bytes.
        public init(_ bytes: [UInt8]) {
            self.bytes = bytes
        }

        /// Dotted or colon notation.
        public var text: String {
            if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
            return stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
                .joined(separator: ":")
        }

        /// What kind of address it is: `public`, or why it is not.
        public var kind: String {
            if bytes.count == 16 {
                if bytes[0..<15].allSatisfy({ $0 == 0 }) { return bytes[15] == 1 ? "loopback" : "unspecified" }
                // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible) carry an IPv4 address: judge that one.
                let mapped = bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff
                if mapped || bytes[0..<12].allSatisfy({ $0 == 0 }) { return ResolvedAddress(Array(bytes[12..<16])).kind }
                if bytes[0] == 0xfe && bytes[1] & 0xc0 == 0x80 { return "link-local" }
                if bytes[0] & 0xfe == 0xfc { return "private (unique local)" }
                if bytes[0] == 0xff { return "multicast" }
                if bytes[0] == 0x20 && bytes[1] == 0x01 && bytes[2] == 0x0d && bytes[3] == 0xb8 { return "documentation" }
                return "public"
            }
            let (a, b) = (bytes[0], bytes[1])
            switch a {
            case 0: return "unspecified"
            case 10: return "private"
            case 127: return "loopback"
            case 169 where b == 254: return "link-local"
            case 172 where (16...31).contains(b): return "private"
            case 192 where b == 168: return "private"
            case 100 where (64...127).contains(b): return "shared (carrier-grade NAT)"
            case 198 where b == 18 || b == 19: return "benchmarking"
            case 224...239: return "multicast"
            case 240...255: return "reserved"
            default: return "public"
            }
        }

        /// Whether deliveries may go there without `webhooks.allowPrivateNetworks`.
        public var isPublic: Bool { kind == "public" }
    }

    /// The addresses of `host` (an IP literal resolves to itself), looked up off the cooperative threads.
    static func resolve(_ host: String) async throws(EndpointError) -> [ResolvedAddress] {
        let name = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        let result: Result<[ResolvedAddress], EndpointError> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: lookup(name)) }
        }
        return try result.get()
    }

    private static func lookup(_ name: String) -> Result<[ResolvedAddress], EndpointError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(name, nil, &hints, &list)
        guard status == 0, let first = list else {
            return .failure(EndpointError("cannot resolve \(name): \(String(cString: gai_strerror(status)))"))
        }
        defer { freeaddrinfo(first) }
        var addresses: [ResolvedAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            if let address = entry.pointee.ai_addr {
                switch Int32(address.pointee.sa_family) {
                case AF_INET:
                    address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { v4 in
                        let raw = v4.pointee.sin_addr.s_addr  // network byte order
                        addresses.append(ResolvedAddress(withUnsafeBytes(of: raw) { Array($0) }))
                    }
                case AF_INET6:
                    address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { v6 in
                        addresses.append(ResolvedAddress(withUnsafeBytes(of: v6.pointee.sin6_addr) { Array($0) }))
                    }
                default: break
                }
            }
            cursor = entry.pointee.ai_next
        }
        var unique: [ResolvedAddress] = []
        for address in addresses where !unique.contains(address) { unique.append(address) }
        return .success(unique)
    }
}

/// Why an endpoint URL or its address is refused; said in one line, without secrets.
public struct EndpointError: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
