import Foundation
@testable import LedgerServer
import LedgerTestSupport
import NIOHTTP1
import Testing

/// Requests refused before any route, over real loopback sockets: unreadable HTTP (SwiftNIO's parser
/// errors) and the `Host` field rules of RFC 9112 §3.2 — each answered 400 with the OpenAPI
/// document's `Error` (`reason: malformed_request`), the connection closed, nothing appended.
@Suite(.serialized) struct RequestHeadCheckTests {
    /// Sends `request` as bytes on a new connection; the whole answer (up to the server's close).
    /// The blocking socket work runs on a thread of its own — not Dispatch's global queues, whose few
    /// threads the servers under test need (as ``ConnectionPersistenceTests/blocking(_:)``).
    func exchange(_ server: RunningServer, _ request: String) async throws -> (text: String, closed: Bool) {
        let port = server.port
        return try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result {
            let fd = try LoopbackHTTP.connect(port: port, timeoutSeconds: 10)
            defer { close(fd) }
            try LoopbackHTTP.sendRaw(fd, Array(request.utf8))
            let (bytes, closed) = try LoopbackHTTP.readUntilClosed(fd, timeoutSeconds: 240)
            return (String(decoding: bytes, as: UTF8.self), closed)
            }) }.start()
        }
    }

    /// The answer's status line, and its JSON body's `error` when `reason` is `malformed_request`.
    func refusal(_ answer: String) -> (status: String, error: String?) {
        let parts = answer.components(separatedBy: "\r\n\r\n")
        let status = parts.first?.components(separatedBy: "\r\n").first ?? ""
        let json = parts.count > 1 ? (try? JSONSerialization.jsonObject(with: Data(parts[1].utf8))) as? [String: Any] : nil
        guard json?["reason"] as? String == "malformed_request", json?.count == 2 else { return (status, nil) }
        return (status, json?["error"] as? String)
    }

    @Test(arguments: [
        // RFC 9112 §3.2: HTTP/1.1 without Host, more than one Host line, an invalid Host value.
        ("GET /healthz HTTP/1.1\r\n\r\n", "must have a Host header field"),
        ("GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "2 Host header fields"),
        ("GET /healthz HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", "2 Host header fields"),
        ("GET /healthz HTTP/1.1\r\nHost: bad host\r\n\r\n", "\"bad host\" is not a host"),
        ("GET /healthz HTTP/1.1\r\nHost: example.com:80x\r\n\r\n", "is not a host"),
        ("GET /healthz HTTP/1.1\r\nHost: user@example.com\r\n\r\n", "is not a host"),
        // SwiftNIO's parser: framing it cannot read.
        ("GET /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n", "Content-Length is not a single decimal number"),
        ("POST /events HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "could not be read as HTTP/1.1"),
        ("GET /healthz HTTP/1.1\r\nHost: a\r\nno colon here\r\n\r\n", "could not be read as HTTP/1.1: a header line is not `name: value`"),
    ])
    func refusedWithALocatedJSONError(_ request: String, _ expected: String) async throws {
        let server = try await RunningServer(credentials: nil, configure: { $0.insecureNoAuthentication = true })
        let (answer, closed) = try await exchange(server, request)
        let (status, error) = refusal(answer)
        #expect(status == "HTTP/1.1 400 Bad Request", "\(answer)")
        #expect(error?.contains(expected) == true, "\(answer)")
        #expect(closed, "the connection stayed open after an unreadable request")
        #expect(try server.position() == 0)
        let metrics = try await server.send("GET", "/metrics").text
        #expect(metrics.contains("ledger_rejected_requests_total{reason=\"malformed_request\"} 1"), "\(metrics)")
        await server.stop()
    }

    /// Other refusals before any route, each with its RFC's status: CONNECT and unknown transfer
    /// codings 501 (RFC 9110 §9.3.6, RFC 9112 §6.1), an HTTP/1.0 POST without Content-Length 411
    /// (RFC 1945 §8.3), a head over the limit 431 (RFC 6585 §5), another version or an HTTP/2 preface 400 naming it.
    @Test(arguments: [
        ("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", "HTTP/1.1 501 Not Implemented", "unsupported_request", "CONNECT is not supported"),
        ("POST /events HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", "HTTP/1.1 501 Not Implemented", "unsupported_request", "\"gzip\" is not supported"),
        ("POST /events HTTP/1.0\r\n\r\n{\"id\":\"x\"}\n", "HTTP/1.1 411 Length Required", "malformed_request", "must have a Content-Length"),
        ("GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: " + String(repeating: "x", count: 90_000) + "\r\n\r\n", "HTTP/1.1 431 Request Header Fields Too Large", "malformed_request", "too large"),
        ("GET /healthz HTTP/3.7\r\nHost: a\r\n\r\n", "HTTP/1.1 400 Bad Request", "malformed_request", "not `METHOD target HTTP/1.x` ending with CRLF"),
        ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "HTTP/1.1 400 Bad Request", "malformed_request", "HTTP/1.1 only"),
        // Unknown methods, a method in lower case (RFC 9110 §9.1: case-sensitive): 501, not "invalid".
        ("FOO /healthz HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 501 Not Implemented", "unsupported_request", "not one this service implements"),
        ("get /healthz HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 501 Not Implemented", "unsupported_request", "case-sensitive"),
        // Two identical Content-Length lines (RFC 9112 §6.3 lets a server refuse them): said so.
        ("POST /events HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}", "HTTP/1.1 400 Bad Request", "malformed_request", "Content-Length is given twice"),
    ])
    func refusedWithTheirStatus(_ request: String, _ statusLine: String, _ reason: String, _ expected: String) async throws {
        let server = try await RunningServer(credentials: nil, configure: { $0.insecureNoAuthentication = true })
        let (answer, closed) = try await exchange(server, request)
        let parts = answer.components(separatedBy: "\r\n\r\n")
        #expect(parts.first?.hasPrefix(statusLine + "\r\n") == true, "\(answer.prefix(300))")
        let json = parts.count > 1 ? (try? JSONSerialization.jsonObject(with: Data(parts[1].utf8))) as? [String: Any] : nil
        #expect(json?["reason"] as? String == reason && (json?["error"] as? String)?.contains(expected) == true, "\(answer.prefix(300))")
        #expect(closed)
        #expect(try server.position() == 0)
        // RFC 9110 §6.6.1: an origin server with a clock sends Date in its 2xx–4xx answers (and here in 501).
        let date = parts.first?.components(separatedBy: "\r\n").first { $0.lowercased().hasPrefix("date: ") }
        #expect(date.map { Self.isIMFFixdate(String($0.dropFirst(6))) } == true, "\(answer.prefix(300))")
        await server.stop()
    }

    /// `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110 §5.6.7), within a minute of now.
    static func isIMFFixdate(_ value: String) -> Bool {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        guard let date = formatter.date(from: value), formatter.string(from: date) == value else { return false }
        return abs(date.timeIntervalSinceNow) < 60
    }

    @Test func httpDates() {
        #expect(JSONResponse.httpDate(Date(timeIntervalSince1970: 784_111_777)) == "Sun, 06 Nov 1994 08:49:37 GMT")  // RFC 9110 §5.6.7's example
        #expect(JSONResponse.httpDate(Date(timeIntervalSince1970: 1_764_928_161.9)) == "Fri, 05 Dec 2025 09:49:21 GMT")
    }

    /// HTTP/1.0 may omit Host; an empty Host is valid (RFC 9110 §7.2), so are IP literals and ports.
    @Test(arguments: [
        "GET /healthz HTTP/1.0\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: [::1]:8025\r\nConnection: close\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:8025\r\nConnection: close\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: ledger.example.com\r\nConnection: close\r\n\r\n",
    ])
    func validHostsAreServed(_ request: String) async throws {
        let server = try await RunningServer(credentials: nil, configure: { $0.insecureNoAuthentication = true })
        let (answer, _) = try await exchange(server, request)
        #expect(answer.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(answer)")
        #expect(answer.hasSuffix("\r\n\r\nok\n"), "\(answer)")
        await server.stop()
    }

    /// A refusal after a pipelined request waits for that request's answer: the answers come in order.
    @Test func aRefusalAfterAPipelinedRequestComesAfterItsAnswer() async throws {
        let server = try await RunningServer(credentials: nil, configure: { $0.insecureNoAuthentication = true })
        let (answer, closed) = try await exchange(server, "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\nGET /readyz HTTP/1.1\r\n\r\nGET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
        let first = try #require(answer.range(of: "HTTP/1.1 200 OK"))
        let second = try #require(answer.range(of: "HTTP/1.1 400 Bad Request"))
        #expect(first.lowerBound < second.lowerBound)
        let statusLines = answer.replacingOccurrences(of: "\r\n", with: "\n").components(separatedBy: "\n").filter { $0.hasPrefix("HTTP/1.1 ") && $0.dropFirst(9).first?.isNumber == true }
        #expect(statusLines == ["HTTP/1.1 200 OK", "HTTP/1.1 400 Bad Request"], "a request after the refused one was served: \(answer)")
        #expect(closed)
        await server.stop()
    }

    @Test func hostValues() {
        for valid in ["", "a", "example.com", "example.com:", "example.com:8025", "192.0.2.1", "[2001:db8::1]", "[::1]:80", "xn--bcher-kva.example", "a%41b"] {
            #expect(RequestHeadCheckHandler.isValidHost(valid), "\(valid)")
        }
        for invalid in ["a b", "a:b", "a/b", "[::1", "[]", "[::1]x", "a@b", "a%4", "a%zz", "ex\u{e9}mple.com", "a:80:80"] {
            #expect(!RequestHeadCheckHandler.isValidHost(invalid), "\(invalid)")
        }
    }

    @Test func rawErrorAnswersAreHTTPWithAnEscapedJSONBody() throws {
        let text = JSONResponse.rawErrorAnswer(code: 400, reasonPhrase: "Bad Request",
                                               ErrorAnswer(error: "a \"b\" \\ \u{1} é/", reason: "malformed_request"),
                                               extraHeaders: "Retry-After: 1\r\n")
        let parts = text.components(separatedBy: "\r\n\r\n")
        try #require(parts.count == 2)
        let head = parts[0].components(separatedBy: "\r\n")
        #expect(head.first == "HTTP/1.1 400 Bad Request")
        #expect(head.contains("Content-Type: application/json"))
        #expect(head.contains("Retry-After: 1"))
        #expect(head.last == "Connection: close")
        #expect(head.contains("Content-Length: \(parts[1].utf8.count)"))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(parts[1].utf8)) as? [String: String])
        #expect(json == ["error": "a \"b\" \\ \u{1} é/", "reason": "malformed_request"])
    }
}

/// The connections held open are bounded (``ConnectionGate``): one over the limit is answered 503 with
/// `Retry-After` and closed before anything is read; the others are served; once one closes, a new
/// connection is admitted (a tester's 1,100 slow uploads exhausted the descriptors and crashed the process).
@Test func connectionsOverTheLimitGet503AndTheOthersAreServed() async throws {
    // Never above the open-file limit less 128 (more would exhaust the descriptors again).
    #expect(ConnectionGate.effectiveLimit(configured: 1 << 40) == ConnectionGate.defaultLimit())
    #expect(ConnectionGate.effectiveLimit(configured: 2) == 2)
    let server = try await RunningServer(credentials: nil, configure: { $0.insecureNoAuthentication = true; $0.maximumConnections = 2 })
    let port = server.port
    let (refused, served, admittedAfter) = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<(String, String, String), any Error>) in
        Thread {
            continuation.resume(with: Result {
                // Two connections that send nothing yet (slow clients) hold the two places.
                let first = try LoopbackHTTP.connect(port: port, timeoutSeconds: 60)
                let second = try LoopbackHTTP.connect(port: port, timeoutSeconds: 60)
                usleep(300_000)
                let third = try LoopbackHTTP.connect(port: port, timeoutSeconds: 60)
                defer { close(third) }
                try LoopbackHTTP.sendRaw(third, Array("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n".utf8))
                let refused = String(decoding: try LoopbackHTTP.readUntilClosed(third, timeoutSeconds: 240).bytes, as: UTF8.self)
                // A held connection is still served.
                try LoopbackHTTP.sendRaw(first, Array("GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".utf8))
                let served = String(decoding: try LoopbackHTTP.readUntilClosed(first, timeoutSeconds: 240).bytes, as: UTF8.self)
                close(first)
                usleep(300_000)
                let after = try LoopbackHTTP.exchange(port: port, raw: Array("GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".utf8), timeoutSeconds: 240)
                close(second)
                usleep(300_000)
                return (refused, served, "\(after.status) \(after.text)")
            })
        }.start()
    }
    #expect(refused.hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"), "\(refused)")
    #expect(refused.contains("Retry-After: 1\r\n") && refused.contains("\"reason\":\"too_many_connections\""), "\(refused)")
    #expect(served.hasPrefix("HTTP/1.1 200 OK") && served.hasSuffix("ok\n"), "\(served)")
    #expect(admittedAfter == "200 ok\n", "\(admittedAfter)")
    let metrics = try await server.send("GET", "/metrics").text
    #expect(metrics.contains("ledger_rejected_requests_total{reason=\"too_many_connections\"} 1"), "\(metrics)")
    await server.stop()
}
