import NIOCore
import NIOHTTP1
import Synchronization

/// Ends a connection after an answer the service wrote outside Hummingbird (a refusal before any
/// route, or a body that arrived too slowly), as RFC 9112 §9.6 says a server avoids "the TCP reset
/// problem": closing at once while the client is still sending (the rest of a refused upload, a
/// pipelined request) makes the kernel answer its next bytes with a reset, and a client that had not
/// read the answer yet loses it — a tester saw the `503` over the connection limit arrive as
/// "connection reset by peer". So the service closes its side only (a half-close: the client reads the
/// answer, then the end of the stream), reads and discards what the client still sends, and closes
/// fully when the client closes, or after ``lingerTime`` or ``lingerBytes``, whichever comes first
/// (Apache httpd's lingering close waits up to 2 s). At most ``maximumLingering`` connections linger
/// at once (each holds a descriptor, and the ones over ``ConnectionGate``'s limit are not counted by
/// it); beyond that, a connection closes at once.
enum LingeringClose {
    static let lingerTime: TimeAmount = .seconds(2)
    static let lingerBytes = 1 << 20
    static let maximumLingering = 64
    private static let lingering = Atomic<Int>(0)

    /// Closes `channel` as above once `written` (the answer's write, on the channel's event loop)
    /// completes; at once when it failed.
    static func close(_ channel: any Channel, after written: EventLoopFuture<Void>) {
        written.whenComplete { result in
            guard case .success = result, channel.isActive else {
                channel.close(promise: nil)
                return
            }
            // Already lingering (two handlers may end the same answer's connection).
            if (try? channel.pipeline.syncOperations.handler(type: DiscardingHandler.self)) != nil { return }
            let (_, count) = lingering.wrappingAdd(1, ordering: .relaxed)
            guard count <= maximumLingering else {
                lingering.wrappingSubtract(1, ordering: .relaxed)
                channel.close(promise: nil)
                return
            }
            channel.closeFuture.whenComplete { _ in lingering.wrappingSubtract(1, ordering: .relaxed) }
            do {
                try channel.pipeline.syncOperations.addHandler(DiscardingHandler(limit: lingerBytes), position: .first)
            } catch {
                channel.close(promise: nil)
                return
            }
            channel.close(mode: .output).whenFailure { _ in channel.close(promise: nil) }
            channel.eventLoop.scheduleTask(in: lingerTime) { channel.close(promise: nil) }
        }
    }

    /// Writes `answer` (a whole HTTP/1.1 message, ``JSONResponse/rawErrorAnswer(code:reasonPhrase:_:extraHeaders:)``)
    /// from the place of SwiftNIO's response encoder in `context`'s pipeline, as it is — the encoder
    /// would frame an answer to a `CONNECT` as the start of a tunnel (no `Content-Length`, no body) —
    /// then closes the connection as above.
    static func send(_ answer: String, from context: ChannelHandlerContext) {
        let channel = context.channel
        guard let encoder = try? context.pipeline.syncOperations.context(handlerType: HTTPResponseEncoder.self) else {
            channel.close(promise: nil)
            return
        }
        let written = context.eventLoop.makePromise(of: Void.self)
        close(channel, after: written.futureResult)
        encoder.writeAndFlush(NIOAny(ByteBuffer(string: answer)), promise: written)
    }
}

/// First in a lingering connection's pipeline: drops what is read (nothing reaches the HTTP decoder),
/// and closes the connection once more than `limit` bytes arrived or the client closed its side.
final class DiscardingHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    private var remaining: Int

    init(limit: Int) { remaining = limit }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        remaining -= unwrapInboundIn(data).readableBytes
        if remaining < 0 { context.close(promise: nil) }
    }

    /// The client closed its side (Hummingbird allows remote half-closure, so SwiftNIO reports it
    /// rather than closing): nothing more to wait for.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event { context.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
