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
    private var pendingRefusal: String?
    /// Called once per refusal (the `rejected_requests_total{reason="malformed_request"}` counter).
    private let onRefusal: @Sendable () -> Void

    init(onRefusal: @escaping @Sendable () -> Void) {
        self.onRefusal = onRefusal
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if refused { return }
        let part = unwrapInboundIn(data)
        switch part {
        case .head(let head):
            if let problem = Self.hostProblem(head) {
                refuse(context: context, message: problem)
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
        guard let parserError = error as? HTTPParserError, !refused, !readingBody else {
            context.fireErrorCaught(error)
            return
        }
        refuse(context: context, message: "the request could not be read as HTTP/1.1: \(Self.describe(parserError))")
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data) else {
            context.write(data, promise: promise)
            return
        }
        if unanswered > 0 { unanswered -= 1 }
        context.write(data, promise: promise)
        if unanswered == 0, let message = pendingRefusal {
            pendingRefusal = nil
            send(context: context, message: message)
        }
    }

    private func refuse(context: ChannelHandlerContext, message: String) {
        refused = true
        onRefusal()
        if unanswered == 0 {
            send(context: context, message: message)
        } else {
            pendingRefusal = message
        }
    }

    /// Writes the 400 answer and closes the connection once it is written.
    private func send(context: ChannelHandlerContext, message: String) {
        let body = ByteBuffer(string: Self.errorDocument(message))
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .badRequest, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: written)
        let channel = context.channel
        written.futureResult.whenComplete { _ in channel.close(promise: nil) }
    }

    /// `{"error": message, "reason": "malformed_request"}` (the OpenAPI document's `Error`).
    static func errorDocument(_ message: String) -> String {
        var escaped = ""
        for scalar in message.unicodeScalars {
            switch scalar {
            case "\"": escaped += "\\\""
            case "\\": escaped += "\\\\"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                escaped += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return "{\"error\":\"\(escaped)\",\"reason\":\"malformed_request\"}\n"
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

    /// SwiftNIO's parser finding in words.
    static func describe(_ error: HTTPParserError) -> String {
        switch error {
        case .invalidContentLength: return "Content-Length is not a single decimal number"
        case .unexpectedContentLength: return "Content-Length is given with Transfer-Encoding, or where no body may be"
        case .invalidChunkSize: return "a chunk size is not a hexadecimal number"
        case .headerOverflow: return "the request head is too large"
        case .invalidHeaderToken: return "a header line is not `name: value` with a valid field name"
        case .invalidVersion: return "the HTTP version is not HTTP/1.0 or HTTP/1.1"
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
