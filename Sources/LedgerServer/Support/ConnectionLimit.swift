import Foundation
import NIOCore
import Synchronization

/// The most connections the service holds open at once (``ServerConfiguration/maximumConnections``).
///
/// Each connection costs a file descriptor; when the process runs out of them, SwiftNIO's accept
/// loop fails with `EMFILE` thousands of times a second (a core spent, every new client timing out)
/// and libdispatch, which opens `/proc/self/task/…` to watch its threads, traps the process — a tester's
/// single client holding 1,100 slow uploads under systemd's default limit of 1,024 did both. A
/// connection over the limit is answered at once, before anything of it is read, with
/// `503 Service Unavailable` and `Retry-After: 1` (RFC 9110 §15.6.4: a temporary overload; webhook
/// senders retry on any non-2xx), and closed: the descriptors in use stay bounded below the process's
/// limit, and connections already open are served as before.
final class ConnectionGate: Sendable {
    let limit: Int
    private let open = Atomic<Int>(0)
    /// Called for each connection refused (the `rejected_requests_total{reason="too_many_connections"}` counter).
    private let onRefusal: @Sendable () -> Void

    init(limit: Int, onRefusal: @escaping @Sendable () -> Void) {
        self.limit = limit
        self.onRefusal = onRefusal
    }

    /// Admits `channel` (its place is released when it closes), or returns `false` when the limit is
    /// reached: the caller then puts ``OverLimitHandler`` first in its pipeline.
    func admit(_ channel: any Channel) -> Bool {
        let (_, admitted) = open.wrappingAdd(1, ordering: .acquiringAndReleasing)
        guard admitted <= limit else {
            open.wrappingSubtract(1, ordering: .acquiringAndReleasing)
            onRefusal()
            return false
        }
        channel.closeFuture.whenComplete { _ in self.open.wrappingSubtract(1, ordering: .acquiringAndReleasing) }
        return true
    }

    /// The answer to a connection over the limit.
    var refusal: String {
        JSONResponse.rawErrorAnswer(code: 503, reasonPhrase: "Service Unavailable",
                                    ErrorAnswer(error: "the service holds \(limit) connections, its limit (--max-connections): try again shortly",
                                                reason: "too_many_connections"),
                                    extraHeaders: "Retry-After: 1\r\n")
    }

    /// Connections held now.
    var current: Int { open.load(ordering: .acquiring) }

    /// The limit in force: the one configured, but never above ``defaultLimit()`` — more connections
    /// than descriptors would bring back the exhaustion this gate exists to prevent (a tester's
    /// `--max-connections 1000` under `ulimit -n 256` crashed the process again).
    static func effectiveLimit(configured: Int?) -> Int {
        min(configured ?? Int.max, defaultLimit())
    }

    /// The default limit: the process's open-file limit (raised to its hard limit first,
    /// ``raiseOpenFileLimit()``) less 128 descriptors kept for the ledger's files, logs and the
    /// runtime, at least 16.
    static func defaultLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max else { return 16_384 }
        return max(16, min(Int(limit.rlim_cur) - 128, 1 << 20))
    }

    /// Raises the soft open-file limit to the hard one (as nginx's `worker_rlimit_nofile` or Go's
    /// runtime do): systemd starts services with a soft limit of 1,024 and a hard one of 524,288.
    /// Returns the soft limit in force afterwards.
    @discardableResult
    static func raiseOpenFileLimit() -> Int? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return limit.rlim_cur == rlim_t.max ? nil : Int(limit.rlim_cur)
    }
}

/// First in the pipeline of a connection over the limit: writes ``ConnectionGate/refusal`` as it is,
/// reads nothing of the request (what arrives is dropped), and closes the connection once the answer
/// is written (``LingeringClose``). Hummingbird's handlers behind it see only the close.
final class OverLimitHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private let answer: String
    private var sent = false

    init(answer: String) { self.answer = answer }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { refuse(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        refuse(context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    private func refuse(_ context: ChannelHandlerContext) {
        guard !sent else { return }
        sent = true
        LingeringClose.close(context.channel, after: context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: answer))))
    }
}
