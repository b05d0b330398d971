import Foundation
import NIOCore
import NIOHTTP1

/// Refuses, with a located JSON error, the requests that must not reach the routes: those SwiftNIO's
/// HTTP/1 parser cannot read, and those RFC 9112 §3.2 tells a server to refuse although they parse.
///
/// - **Unreadable requests** (SwiftNIO's `HTTPParserError`: a `Content-Length` that is not a number
///   or given twice with different values, `Content-Length` beside `Transfer-Encoding`, a bad chunk
///   size, a header line without a colon, an unknown HTTP version, a head over the limit): Hummingbird
///   answered `400` with an empty body. The answer is now `400` with `{"error", "reason":
///   "malformed_request"}` naming the parser's finding, and the connection closes (the bytes after
///   an unreadable head cannot be framed: RFC 9112 §11.2).
/// - **`Host`** (RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code to any
///   HTTP/1.1 request message that lacks a Host header field and to any request message that
///   contains more than one Host header field line or a Host header field with an invalid field
///   value"). Hummingbird took such requests. An HTTP/1.0 request may omit it; an empty value is
///   valid (RFC 9110 §7.2); a valid value is `uri-host [ ":" port ]` (RFC 3986 §3.2.2, §3.2.3).
///
/// An error inside the body of a request the routes are already reading (a bad chunk) goes to them
/// as before: the route's body read fails, and nothing of that request is appended. A refusal waits
/// for the answers to earlier pipelined requests, so that answers never interleave; nothing read
/// after the refused request is served.
final class RequestHeadCheckHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// Requests passed on whose answer has not ended (its `.end` not yet written).
    private var unanswered = 0
    /// A request head was passed on and its `.end` has not been read yet.
    private var readingBody = false
    /// Set once a request is refused: everything read afterwards is dropped.
    private var refused = false
    /// A refusal waiting for earlier answers to end.
    private var pendingRefusal: Refusal?

    /// An answer: its status, the document's `reason`, the message.
    struct Refusal {
        var status: HTTPResponseStatus = .badRequest
        var reason = "malformed_request"
        var message: String
    }
    /// Called once per refusal with its reason (the `rejected_requests_total{reason}` counter).
    private let onRefusal: @Sendable (String) -> Void

    init(onRefusal: @escaping @Sendable (String) -> Void) {
        self.onRefusal = onRefusal
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if refused { return }
        let part = unwrapInboundIn(data)
        switch part {
        case .head(let head):
            if let refusal = Self.refusal(for: head) {
                refuse(context: context, refusal)
                return
            }
            unanswered += 1
            readingBody = true
        case .end:
            readingBody = false
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // The connection closing (the idle timeout) with a head half-sent: SwiftNIO's decoder reports
        // the unfinished head; nobody is there to answer, and it is no malformed request.
        guard let parserError = error as? HTTPParserError, !refused, !readingBody, context.channel.isActive else {
            context.fireErrorCaught(error)
            return
        }
        let message = "the request could not be read as HTTP/1.1: \(Self.describe(parserError))"
        switch parserError {
        case .headerOverflow: refuse(context: context, Refusal(status: .requestHeaderFieldsTooLarge, message: message))  // RFC 6585 §5
        case .invalidMethod:
            // SwiftNIO's parser knows a fixed list of methods and refuses any other token, `get` too
            // (method names are case-sensitive): RFC 9110 §9.1 — "An origin server that receives a
            // request method that is unrecognized or not implemented SHOULD respond with the 501".
            refuse(context: context, Refusal(status: Self.unsupported, reason: "unsupported_request",
                                             message: "the method is not one this service implements: it answers GET, HEAD and POST, written in capitals (method names are case-sensitive, RFC 9110 §9.1)"))
        default: refuse(context: context, Refusal(message: message))
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data) else {
            context.write(data, promise: promise)
            return
        }
        if unanswered > 0 { unanswered -= 1 }
        context.write(data, promise: promise)
        if unanswered == 0, let refusal = pendingRefusal {
            pendingRefusal = nil
            send(context: context, refusal)
        }
    }

    private func refuse(context: ChannelHandlerContext, _ refusal: Refusal) {
        refused = true
        onRefusal(refusal.reason)
        if unanswered == 0 {
            send(context: context, refusal)
        } else {
            pendingRefusal = refusal
        }
    }

    /// Writes the answer, then closes the connection (``LingeringClose``).
    private func send(context: ChannelHandlerContext, _ refusal: Refusal) {
        LingeringClose.send(JSONResponse.rawErrorAnswer(code: Int(refusal.status.code), reasonPhrase: refusal.status.reasonPhrase,
                                                        ErrorAnswer(error: refusal.message, reason: refusal.reason)),
                            from: context)
    }

    /// Why `head` must be refused before any route, or `nil`:
    /// - its `Host` field (``hostProblem(_:)``);
    /// - `CONNECT` (RFC 9110 §9.3.6: a request to a proxy to open a tunnel; this service is an origin
    ///   server): 501 `unsupported_request` — answered here, as a route's answer to it would be read as the
    ///   start of a tunnel and carry no framing;
    /// - a transfer coding other than `chunked` (RFC 9112 §6.1: "A server that receives a request
    ///   message with a transfer coding it does not understand SHOULD respond with 501"): 501
    ///   `unsupported_request` (a gzip transfer coding read as the body made a batch "not a SparkPost document");
    /// - an HTTP/1.0 request with a body method (POST, PUT, PATCH) and no `Content-Length` (RFC 1945
    ///   §8.3: "A valid Content-Length is required on all HTTP/1.0 POST requests"; RFC 9110 §15.5.12):
    ///   411 — its body would be taken as empty and the batch acknowledged unread.
    /// 501: the server does not support what the request needs (RFC 9110 §15.6.2).
    static let unsupported = HTTPResponseStatus(statusCode: 501)

    static func refusal(for head: HTTPRequestHead) -> Refusal? {
        if let problem = hostProblem(head) { return Refusal(message: problem) }
        if head.method == .CONNECT {
            return Refusal(status: Self.unsupported, reason: "unsupported_request",
                           message: "CONNECT is not supported: this service is not a proxy (RFC 9110 §9.3.6)")
        }
        let codings = head.headers["transfer-encoding"].flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        if let unknown = codings.first(where: { $0 != "chunked" }) {
            return Refusal(status: Self.unsupported, reason: "unsupported_request",
                           message: "the transfer coding \(quoted(unknown)) is not supported: only chunked (RFC 9112 §6.1); compress a body with Content-Encoding instead")
        }
        if head.version.major == 1, head.version.minor == 0, [.POST, .PUT, .PATCH].contains(head.method),
           head.headers["content-length"].isEmpty, codings.isEmpty {
            return Refusal(status: .lengthRequired,
                           message: "an HTTP/1.0 \(head.method.rawValue) must have a Content-Length (RFC 1945 §8.3): its body could not be read")
        }
        return nil
    }

    /// Why `head` must be refused for its `Host` field (RFC 9112 §3.2), or `nil`.
    static func hostProblem(_ head: HTTPRequestHead) -> String? {
        let values = head.headers["host"]
        if values.count > 1 {
            return "the request has \(values.count) Host header fields; exactly one is allowed (RFC 9112 §3.2)"
        }
        guard let value = values.first else {
            if head.version.major == 1 && head.version.minor == 0 { return nil }
            return "an HTTP/\(head.version.major).\(head.version.minor) request must have a Host header field (RFC 9112 §3.2)"
        }
        if isValidHost(value) { return nil }
        return "the Host header field \(quoted(value)) is not a host with an optional port (RFC 9112 §3.2, RFC 3986 §3.2.2)"
    }

    /// `uri-host [ ":" port ]` (RFC 3986 §3.2.2–3.2.3): an IP literal in brackets, or a reg-name
    /// (unreserved, percent-encoded and sub-delims characters; an IPv4 address is one); the port is
    /// digits, possibly none. An empty value is valid (RFC 9110 §7.2).
    static func isValidHost(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        var i = 0
        if bytes.first == UInt8(ascii: "[") {
            guard let close = bytes.firstIndex(of: UInt8(ascii: "]")), close > 1 else { return false }
            for b in bytes[1..<close] where !(isHex(b) || b == UInt8(ascii: ":") || b == UInt8(ascii: ".")
                                               || isUnreserved(b) || isSubDelim(b)) { return false }
            i = close + 1
        } else {
            while i < bytes.count, bytes[i] != UInt8(ascii: ":") {
                let b = bytes[i]
                if b == UInt8(ascii: "%") {
                    guard i + 2 < bytes.count, isHex(bytes[i + 1]), isHex(bytes[i + 2]) else { return false }
                    i += 3
                    continue
                }
                guard isUnreserved(b) || isSubDelim(b) else { return false }
                i += 1
            }
        }
        if i == bytes.count { return true }
        guard bytes[i] == UInt8(ascii: ":") else { return false }
        return bytes[(i + 1)...].allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }

    private static func isHex(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66)
    }

    private static func isUnreserved(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
            || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "~")
    }

    private static func isSubDelim(_ b: UInt8) -> Bool {
        "!$&'()*+,;=".utf8.contains(b)
    }

    /// A value quoted for a message, cut at 100 characters, control characters escaped.
    private static func quoted(_ value: String) -> String {
        let cut = value.count > 100 ? String(value.prefix(100)) + "…" : value
        return "\"" + cut.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined() + "\""
    }

    /// SwiftNIO's parser finding about a request body in words (chunked framing, RFC 9112 §7.1).
    static func describeInBody(_ error: HTTPParserError) -> String {
        switch error {
        case .invalidChunkSize: return "a chunk size is not a hexadecimal number (RFC 9112 §7.1)"
        case .strictModeAssertion, .lfExpected, .invalidConstant, .unknown:
            return "the chunked framing is broken: a chunk's data does not match its size, or a chunk line does not end with CRLF (RFC 9112 §7.1)"
        case .invalidEOFState: return "the connection ended inside the body"
        default: return describe(error)
        }
    }

    /// SwiftNIO's parser finding in words.
    static func describe(_ error: HTTPParserError) -> String {
        switch error {
        case .invalidContentLength: return "Content-Length is not a single decimal number, or is given beside a Transfer-Encoding (RFC 9112 §6.3)"
        case .unexpectedContentLength: return "Content-Length is given twice, or beside Transfer-Encoding, or where no body may be (RFC 9112 §6.3)"
        case .invalidChunkSize: return "a chunk size is not a hexadecimal number"
        case .headerOverflow: return "the request head is too large"
        case .invalidHeaderToken: return "a header line is not `name: value` with a valid field name"
        case .invalidVersion: return "the request line is not `METHOD target HTTP/1.x` ending with CRLF (another HTTP version, or lines ending with a bare LF)"
        case .paused: return "the bytes are not an HTTP/1.1 request (an HTTP/2 connection preface? this service speaks HTTP/1.1 only)"
        case .invalidMethod: return "the method is not a valid token"
        case .invalidURL: return "the request target is not valid"
        case .invalidConstant, .unknown: return "the request line or a header line is not HTTP/1.1 syntax (RFC 9112 §3, §5)"
        case .lfExpected: return "a line does not end with CRLF"
        case .invalidCharactersUsed: return "the request line or a header holds characters HTTP does not allow"
        case .trailingGarbage: return "bytes follow the request where none may"
        case .invalidEOFState: return "the connection ended inside the request"
        case .closedConnection: return "the request came after the client's Connection: close"
        default: return "\(error)"
        }
    }
}
