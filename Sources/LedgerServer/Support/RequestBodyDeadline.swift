import Foundation
import NIOCore
import NIOHTTP1

/// How fast a request body must arrive (``ServerConfiguration/bodyDeadline``): Apache httpd's
/// `mod_reqtimeout` rule, `body=20,MinRate=500` by default — the body has `initialSeconds` from its
/// request head, and one more second for every `minimumBytesPerSecond` bytes received. Hummingbird's
/// idle timeout (30 s without a read) closes a head left unfinished, but any byte restarts it: a client
/// sending its body a byte every few seconds would hold its connection (and a place under
/// `--max-connections`) for as long as it likes, and a few hundred of them would lock SparkPost out.
public struct BodyDeadline: Sendable, Hashable {
    /// Seconds from the request head before the rate counts (default 20).
    public var initialSeconds: Double
    /// Bytes a second that earn one more second (default 500).
    public var minimumBytesPerSecond: Int

    /// - Parameters:
    ///   - initialSeconds: seconds from the request head before the rate counts.
    ///   - minimumBytesPerSecond: bytes that earn one more second.
    public init(initialSeconds: Double = 20, minimumBytesPerSecond: Int = 500) {
        self.initialSeconds = initialSeconds
        self.minimumBytesPerSecond = max(1, minimumBytesPerSecond)
    }

    /// The seconds allowed, from the head, for a body of which `received` bytes have arrived.
    func allowedSeconds(received: Int) -> Double {
        initialSeconds + Double(received) / Double(minimumBytesPerSecond)
    }
}

/// After ``RequestHeadCheckHandler``: a request whose body arrives slower than ``BodyDeadline`` is
/// answered `408 Request Timeout` (RFC 9110 §15.5.9: "the server did not receive a complete request
/// message within the time that it was prepared to wait") with `{"error", "reason":
/// "request_timeout"}` saying how much arrived in how long, and the connection is closed
/// (``LingeringClose``). The route reading that body then sees it end unfinished and appends nothing
/// of it (`body_incomplete`). When answers to earlier pipelined requests are still being written, the
/// connection is closed without an answer (answers never interleave).
///
/// A request answered before its body was read to its end ends its connection the same way, after the
/// answer: the rest of its body is dropped, not read for as long as the client drips it.
///
/// The clock counts only the client's time: from the head (a `100 Continue`, when the head asks for
/// one, goes out with it: ``ConnectionPersistenceHandler``; when it does not — HTTP/1.0, a pipelined
/// request — the client sends after its own short wait, RFC 9110 §10.1.1), while the service has
/// asked for bytes and none came. A request whose `Content-Length` is over the body limit has no
/// clock: the route answers 413 from its head and closes the connection. While the route has not taken
/// what arrived (a busy machine; SwiftNIO then stops reading), the clock stops: a tester's loaded
/// run had answered 408 to requests the service itself was slow to read. It stops for good at the
/// body's end, or when the body cannot be read (a bad chunk: the route answers that).
final class RequestBodyDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let deadline: BodyDeadline
    private let onRefusal: @Sendable (String) -> Void
    /// The request whose body is being read: the seconds its client was waited for so far (the
    /// clock), bytes of body received.
    private var reading: (waited: Double, received: Int)?
    /// Since when the service has been waiting for bytes (a read asked and not yet answered) while
    /// the clock runs; `nil` while the service is not asking (SwiftNIO's backpressure: the route has
    /// not taken what arrived) — that time is the service's, not the client's, and is not counted.
    private var waitingSince: NIODeadline?
    /// A read was asked and nothing arrived since.
    private var readPending = false
    /// The routes' body limit (``ServerConfiguration/maximumBodyBytes``).
    private let maximumBodyBytes: Int
    private var check: Scheduled<Void>?
    /// Requests read whose answer has not ended.
    private var unanswered = 0
    /// The last request's head was read and its body not yet to its end.
    private var bodyUnread = false
    private var timedOut = false
    /// The last request asked for `100 Continue` behind an answer still being written: its client
    /// waits for the interim answer (``ConnectionPersistenceHandler`` sends it once the earlier answer
    /// ends), so its clock starts only then, or at its first body byte if it sends without waiting.
    private var awaitingContinue = false

    init(deadline: BodyDeadline, maximumBodyBytes: Int, onRefusal: @escaping @Sendable (String) -> Void) {
        self.deadline = deadline
        self.maximumBodyBytes = maximumBodyBytes
        self.onRefusal = onRefusal
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if timedOut { return }
        readPending = false
        if let since = waitingSince, reading != nil {
            reading!.waited += Self.seconds(context.eventLoop.now - since)
            waitingSince = nil
        }
        switch unwrapInboundIn(data) {
        case .head(let head):
            unanswered += 1
            bodyUnread = true
            awaitingContinue = false
            // Over the limit by its Content-Length: the route answers 413 from the head and the
            // connection closes; the body is never read, so there is nothing to time.
            if head.declaresBody(over: maximumBodyBytes) {
                stopClock()
            } else if unanswered > 1, head.expectsContinue {
                stopClock()
                awaitingContinue = true
            } else {
                startClock(context)
            }
        case .body(let bytes):
            if awaitingContinue {  // sent without waiting for the interim answer
                awaitingContinue = false
                startClock(context)
            }
            reading?.received += bytes.readableBytes
        case .end:
            bodyUnread = false
            awaitingContinue = false
            stopClock()
        }
        context.fireChannelRead(data)
    }

    /// The pipeline asks for more bytes: the wait for the client starts.
    func read(context: ChannelHandlerContext) {
        readPending = true
        if reading != nil, waitingSince == nil { waitingSince = context.eventLoop.now }
        context.read()
    }

    /// SwiftNIO's decoder could not read the rest (a bad chunk): the body will not arrive, and the
    /// route answers that error.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        bodyUnread = false
        stopClock()
        context.fireErrorCaught(error)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if timedOut {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        // The interim answer a pipelined request waited for: its client's time starts now.
        if case .head(let head) = unwrapOutboundIn(data), head.status == .continue, awaitingContinue {
            awaitingContinue = false
            startClock(context)
        }
        guard case .end = unwrapOutboundIn(data) else {
            context.write(data, promise: promise)
            return
        }
        if unanswered > 0 { unanswered -= 1 }
        guard bodyUnread, unanswered == 0 else {
            context.write(data, promise: promise)
            return
        }
        // Answered before its body was read (a 413 from the head, a 401, a route that reads no
        // body): the rest of the body is not wanted. Kept alive, the connection would read it for as
        // long as the client drips it, untimed (a tester held every place under --max-connections
        // so); it ends as a refusal does instead (``LingeringClose``: at most 2 s or 1 MiB more).
        bodyUnread = false
        stopClock()
        let written = promise ?? context.eventLoop.makePromise(of: Void.self)
        context.write(data, promise: written)
        LingeringClose.close(context.channel, after: written.futureResult)
    }

    private func startClock(_ context: ChannelHandlerContext) {
        reading = (0, 0)
        waitingSince = readPending ? context.eventLoop.now : nil
        schedule(context, in: deadline.allowedSeconds(received: 0))
    }

    private func stopClock() {
        reading = nil
        waitingSince = nil
        check?.cancel()
        check = nil
    }

    private static func seconds(_ t: TimeAmount) -> Double { Double(t.nanoseconds) / 1e9 }

    func handlerRemoved(context: ChannelHandlerContext) {
        check?.cancel()
        check = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        check?.cancel()
        check = nil
        context.fireChannelInactive()
    }

    private func schedule(_ context: ChannelHandlerContext, in seconds: Double) {
        check?.cancel()
        let loop = context.eventLoop.assumeIsolated()
        check = loop.scheduleTask(in: .nanoseconds(Int64(max(0, seconds) * 1e9))) { self.expire(context) }
    }

    private func expire(_ context: ChannelHandlerContext) {
        check = nil
        guard let reading, !timedOut else { return }
        let elapsed = reading.waited + (waitingSince.map { Self.seconds(context.eventLoop.now - $0) } ?? 0)
        let allowed = deadline.allowedSeconds(received: reading.received)
        if elapsed < allowed {
            schedule(context, in: allowed - elapsed)
            return
        }
        timedOut = true
        self.reading = nil
        onRefusal("request_timeout")
        guard unanswered == 1 else {  // earlier answers still being written: no answer can go first
            context.fireErrorCaught(RequestBodyTimedOut())
            context.close(promise: nil)
            return
        }
        let message = "the request body arrived too slowly: \(reading.received) bytes in \(String(format: "%.1f", elapsed)) s of waiting "
            + "(the service waits \(Self.format(deadline.initialSeconds)) s, and one more second for every \(deadline.minimumBytesPerSecond) bytes received); "
            + "nothing of it was appended"
        LingeringClose.send(JSONResponse.rawErrorAnswer(code: 408, reasonPhrase: "Request Timeout",
                                                        ErrorAnswer(error: message, reason: "request_timeout")),
                            from: context)
        // The route reading the body learns why it ends there (it neither answers nor counts a
        // refusal of its own: the 408 is the answer, counted once).
        context.fireErrorCaught(RequestBodyTimedOut())
    }

    private static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(format: "%.1f", seconds)
    }
}

/// The error a route's body read ends with after ``RequestBodyDeadlineHandler`` answered 408.
struct RequestBodyTimedOut: Error, CustomStringConvertible {
    var description: String { "the request body arrived too slowly: answered 408 request_timeout" }
}
