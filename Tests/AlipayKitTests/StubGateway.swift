import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A real HTTP server on loopback standing in for the Alipay gateway; records what it receives.
final class StubGateway: Sendable {
    /// One request as the gateway saw it.
    struct Received: Sendable {
        let method: String
        let uri: String
        let contentType: String?
        let body: [UInt8]

        var path: String { String(uri.prefix { $0 != "?" }) }
        var query: String { uri.firstIndex(of: "?").map { String(uri[uri.index(after: $0)...]) } ?? "" }
    }

    /// What to answer.
    enum Reply: Sendable {
        case respond(status: Int, body: String)
        /// Never answer: the client must time out.
        case hang
    }

    final class Recorder: Sendable {
        let items = Mutex<[Received]>([])
    }

    private let channel: any Channel
    private let recorder: Recorder
    /// The bound port on 127.0.0.1.
    let port: Int

    var url: String { "http://127.0.0.1:\(port)/gateway.do" }
    var received: [Received] { recorder.items.withLock { $0 } }

    private init(channel: any Channel, recorder: Recorder) {
        self.channel = channel
        self.recorder = recorder
        self.port = channel.localAddress!.port!
    }

    static func start(reply: @escaping @Sendable (Received) -> Reply) async throws -> StubGateway {
        let recorder = Recorder()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(reply: reply, recorder: recorder))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return StubGateway(channel: channel, recorder: recorder)
    }

    func close() async throws {
        try await channel.close()
    }

    /// Runs `body` with a started gateway and closes it on every path.
    static func with<T>(reply: @escaping @Sendable (Received) -> Reply, _ body: (StubGateway) async throws -> T) async throws -> T {
        let gateway = try await start(reply: reply)
        do {
            let result = try await body(gateway)
            try await gateway.close()
            return result
        } catch {
            try? await gateway.close()
            throw error
        }
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        let reply: @Sendable (Received) -> Reply
        let recorder: Recorder
        var head: HTTPRequestHead?
        var body: [UInt8] = []

        init(reply: @escaping @Sendable (Received) -> Reply, recorder: Recorder) {
            self.reply = reply
            self.recorder = recorder
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                self.head = head
                body = []
            case .body(var buffer):
                body += buffer.readBytes(length: buffer.readableBytes) ?? []
            case .end:
                guard let head else { return }
                let received = Received(method: head.method.rawValue, uri: head.uri, contentType: head.headers.first(name: "Content-Type"), body: body)
                recorder.items.withLock { $0.append(received) }
                guard case .respond(let status, let text) = reply(received) else { return }
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: "text/html;charset=utf-8")
                headers.add(name: "Content-Length", value: "\(text.utf8.count)")
                let responseHead = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: headers)
                context.write(wrapOutboundOut(.head(responseHead)), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            }
        }
    }
}
