import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1

/// HTTP/1 connection persistence as RFC 9112 §9.3 defines it, on top of Hummingbird's HTTP/1 channel.
///
/// Hummingbird 2 (checked with 2.28.1) reads requests as version-less HTTP types and closes a
/// connection after a request only when its `Connection` field is exactly `close`, so an HTTP/1.0
/// request without `keep-alive` — which asks the server to close after the answer (RFC 9112 §9.3:
/// "If the received protocol is HTTP/1.0, the "keep-alive" connection option is present …; otherwise,
/// the connection will close") — left the connection open until the idle timeout, and so did an
/// HTTP/1.1 `Connection: Close` (connection options are case-insensitive, RFC 9110 §7.6.1) or a
/// list such as `keep-alive, close`. This handler sits between SwiftNIO's HTTP/1 decoder, which still
/// knows the version, and Hummingbird's conversion to HTTP types; it decides with SwiftNIO's
/// `HTTPRequestHead.isKeepAlive` (the RFC's rule), and:
/// - when the connection must close, sets the request's `Connection` to `close`, so that Hummingbird
///   ends the connection after the answer, and adds `Connection: close` to the answer (RFC 9112 §9.6:
///   a server that closes SHOULD say so);
/// - when an HTTP/1.0 request asks for `keep-alive`, adds `Connection: keep-alive` to the answer, which
///   is how an HTTP/1.0 client learns that the connection persists (RFC 9112 §C.2.2).
/// HTTP/1.1 requests that persist pass unchanged.
///
/// It also answers `Expect: 100-continue` (RFC 9110 §10.1.1), which neither Hummingbird nor SwiftNIO
/// does: a client that asks for it (libcurl for larger bodies) waits for `100 Continue` before it
/// sends the body, and without it stalls a second per request. The interim answer goes out at once,
/// unless an earlier request on the connection is still being answered (pipelined: an interim answer
/// then would fall inside the earlier one; the client sends the body after its own wait). An HTTP/1.0
/// request's expectation is ignored, as the RFC says. A request whose `Content-Length` is over the
/// body limit gets no `100 Continue` (the route answers 413 from the head alone: RFC 9110 §10.1.1
/// lets a server answer with a final status instead, and it was 100 then 413, so a client sent up to
/// the whole body for nothing — found by a tester). A request pipelined behind one still being
/// answered gets its `100 Continue` once that answer ends (it was never sent: the client waited, then
/// got a 408 that blamed it — found by a tester).
///
/// A request whose `Content-Length` is over the body limit, with or without `Expect`, is refused
/// from its head: it ends at its head for the routes (its body is refused, not awaited; Hummingbird
/// closes a connection whose request is still being read once it has been idle for the idle
/// timeout, so a route slow to answer — the test suite's whole load once held it 30 s — lost its 413
/// to that close while the client waited for a `100 Continue`), its answer says `Connection: close`
/// (§10.1.1: a server answering before the content SHOULD say whether it closes), the connection
/// ends after it (``LingeringClose``), and nothing more read from the connection goes on: neither the
/// body sent anyway nor a request pipelined after it.
final class ConnectionPersistenceHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// What the answer to a request says about the connection; `refused`: `Connection: close`, and
    /// the connection ends after it (``LingeringClose``).
    private enum Answer { case close, refused, keepAlive, unchanged }

    /// One entry per request whose answer has not started, in order (requests may be pipelined).
    private var pending = CircularBuffer<Answer>()
    /// One entry per request whose answer has not ended, in order: whether it waits for a
    /// `100 Continue` not sent yet (it asked while an earlier request was being answered; the
    /// interim answer goes out once that answer ends, RFC 9110 §10.1.1 and §15.2).
    private var owesContinue = CircularBuffer<Bool>()
    /// The answer being written ends the connection (a request refused from its head).
    private var closingAnswer = false
    /// Requests whose answer has not ended (its `.end` not yet written).
    private var unanswered = 0
    /// The body limit of the routes (``ServerConfiguration/maximumBodyBytes``).
    private let maximumBodyBytes: Int
    /// A request's body was refused before it came (over the limit, with `Expect: 100-continue`):
    /// its request ended at the head for the routes, the connection closes after the answer, and
    /// nothing more read from it goes on.
    private var refusedBody = false

    init(maximumBodyBytes: Int) {
        self.maximumBodyBytes = maximumBodyBytes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if refusedBody { return }
        guard case .head(var head) = unwrapInboundIn(data) else {
            context.fireChannelRead(data)
            return
        }
        unanswered += 1
        let expectsContinue = head.expectsContinue
        if expectsContinue { head.headers.remove(name: "expect") }
        if head.declaresBody(over: maximumBodyBytes) {
            // Refused from its head, with or without Expect: the request ends there for the routes
            // (which answer 413, or 401 first), and nothing more read from the connection goes on —
            // neither the body nor a request pipelined after it (a tester's pipelined request after
            // a whole over-limit body was appended). Its answer ends the connection.
            pending.append(.refused)
            owesContinue.append(false)
            refusedBody = true
            context.fireChannelRead(wrapInboundOut(.head(head)))
            context.fireChannelRead(wrapInboundOut(.end(nil)))
            return
        }
        if expectsContinue && unanswered == 1 {
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))), promise: nil)
        }
        owesContinue.append(expectsContinue && unanswered > 1)
        if !head.isKeepAlive {
            head.headers.replaceOrAdd(name: "Connection", value: "close")
            pending.append(.close)
        } else {
            pending.append(head.version == .http1_0 ? .keepAlive : .unchanged)
        }
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            if unanswered > 0 { unanswered -= 1 }
            _ = owesContinue.popFirst()
            if closingAnswer {
                closingAnswer = false
                let written = promise ?? context.eventLoop.makePromise(of: Void.self)
                context.write(data, promise: written)
                LingeringClose.close(context.channel, after: written.futureResult)
                return
            }
            context.write(data, promise: promise)
            // The next request asked for 100 Continue while this one was answered: now it is its turn.
            if owesContinue.first == true {
                owesContinue[owesContinue.startIndex] = false
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
            }
            return
        }
        // An informational answer (100 Continue) precedes the final one and is not it.
        guard case .head(var head) = unwrapOutboundIn(data), head.status.code >= 200 || head.status == .switchingProtocols,
              let answer = pending.popFirst() else {
            context.write(data, promise: promise)
            return
        }
        switch answer {
        case .close: head.headers.replaceOrAdd(name: "Connection", value: "close")
        case .refused:
            head.headers.replaceOrAdd(name: "Connection", value: "close")
            closingAnswer = true
        case .keepAlive: head.headers.replaceOrAdd(name: "Connection", value: "keep-alive")
        case .unchanged: break
        }
        context.write(wrapOutboundOut(.head(head)), promise: promise)
    }
}

/// Hummingbird's HTTP/1 child channel with ``RequestHeadCheckHandler``, ``RequestBodyDeadlineHandler``
/// then ``ConnectionPersistenceHandler`` after SwiftNIO's request decoder; everything else is `HTTP1Channel`'s.
struct PersistenceAwareHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let base: HTTP1Channel
    let maximumBodyBytes: Int
    /// Called for each request ``RequestHeadCheckHandler`` refuses.
    let onMalformedRequest: @Sendable (String) -> Void
    /// Bounds the connections held open (``ConnectionGate``).
    let gate: ConnectionGate
    /// How fast a request body must arrive (``RequestBodyDeadlineHandler``).
    let bodyDeadline: BodyDeadline

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let admitted = gate.admit(channel)
        return base.setup(channel: channel, logger: logger).flatMapThrowing { [gate] value in
            let pipeline = channel.pipeline.syncOperations
            if !admitted {
                try pipeline.addHandler(OverLimitHandler(answer: gate.refusal), position: .first)
                return value
            }
            let decoder = try pipeline.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try pipeline.addHandler(ConnectionPersistenceHandler(maximumBodyBytes: maximumBodyBytes), position: .after(decoder))
            let headCheck = RequestHeadCheckHandler(onRefusal: onMalformedRequest)
            try pipeline.addHandler(headCheck, position: .after(decoder))
            try pipeline.addHandler(RequestBodyDeadlineHandler(deadline: bodyDeadline, maximumBodyBytes: maximumBodyBytes, onRefusal: onMalformedRequest),
                                    position: .after(headCheck))
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// `.http1(configuration:)` with HTTP/1.0 and `Connection` options handled as RFC 9112 §9.3 says
    /// (``ConnectionPersistenceHandler``), unreadable requests or invalid `Host` fields refused with
    /// a located JSON error (``RequestHeadCheckHandler``), bodies slower than `bodyDeadline` answered
    /// 408 (``RequestBodyDeadlineHandler``); `onMalformedRequest` is called for each refusal with its reason.
    static func http1RespectingPersistence(configuration: HTTP1Channel.Configuration, maximumBodyBytes: Int,
                                           onMalformedRequest: @escaping @Sendable (String) -> Void, gate: ConnectionGate,
                                           bodyDeadline: BodyDeadline) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            PersistenceAwareHTTP1Channel(base: HTTP1Channel(responder: responder, configuration: configuration), maximumBodyBytes: maximumBodyBytes,
                                         onMalformedRequest: onMalformedRequest, gate: gate, bodyDeadline: bodyDeadline)
        }
    }
}

extension HTTPRequestHead {
    /// Whether the request asks `Expect: 100-continue` (any letter case, blanks ignored) in
    /// HTTP/1.1 or later; an HTTP/1.0 request's expectation is ignored (RFC 9110 §10.1.1).
    var expectsContinue: Bool {
        version.major == 1 && version.minor >= 1
            && headers["expect"].contains(where: { $0.lowercased().filter { $0 != " " && $0 != "\t" } == "100-continue" })
    }

    /// Whether the head's `Content-Length` announces more than `limit` bytes: the route answers 413
    /// from the head alone (``ConnectionPersistenceHandler`` sends no `100 Continue`, and
    /// ``RequestBodyDeadlineHandler`` times no body for it).
    func declaresBody(over limit: Int) -> Bool {
        declaredContentLength(headers["content-length"].first).map { $0 > limit } ?? false
    }
}

/// A `Content-Length` value as a byte count: `Int.max` for a run of digits too large for `Int`
/// (2^63 and up: SwiftNIO's parser takes lengths up to 2^64 − 1 — a tester's such head was read as
/// no length, and got `100 Continue` over the limit); `nil` when there is no value or it is not digits.
func declaredContentLength(_ text: String?) -> Int? {
    guard let text, !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
    return Int(text) ?? Int.max
}
