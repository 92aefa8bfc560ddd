import Hummingbird
import NIOCore

/// The request context of both listeners: Hummingbird's core storage plus the peer's address.
///
/// The address is what the rate limiter keys on; behind a proxy the middleware prefers `X-Forwarded-For`
/// when configured to trust it.
public struct ReceiverRequestContext: RequestContext {
    /// Hummingbird's per-request storage.
    public var coreContext: CoreRequestContextStorage
    /// The TCP peer, when there is one (nil in router tests).
    public let remoteAddress: SocketAddress?

    /// Creates the context for a request arriving on `source.channel`.
    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// Bodies are read explicitly with their own limits (64 KiB); this caps anything decoded through Hummingbird.
    public var maxUploadSize: Int { 64 * 1024 }
}
