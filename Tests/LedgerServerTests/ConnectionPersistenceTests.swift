import Foundation
import LedgerServer
import LedgerTestSupport
import Testing

/// HTTP/1 connection persistence over real loopback sockets (RFC 9112 §9.3): an HTTP/1.0 request
/// without `keep-alive` gets its answer and then the end of the connection; HTTP/1.0 with
/// `Connection: keep-alive` keeps it open (and the answer says so); HTTP/1.1 persists unless the
/// request says `close`, in any letter case or in a list.
@Suite struct ConnectionPersistenceTests {
    /// Runs blocking socket work on a thread of its own: neither Swift's cooperative pool nor
    /// Dispatch's global queues, whose few threads the server under test needs to answer while the
    /// other tests of the run load the machine.
    func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await onThreadOfItsOwn(body)
    }

    func lowerCasedHead(_ bytes: [UInt8]) -> [String] {
        String(decoding: bytes, as: UTF8.self).components(separatedBy: "\r\n\r\n").first?
            .components(separatedBy: "\r\n").map { $0.lowercased() } ?? []
    }

    /// Sends `request` on a new connection; the answer, and whether the server then closed the
    /// connection (waiting up to 20 s for the close when `expectClose` — below the server's 30 s idle
    /// timeout, so only a close caused by the request counts — and 1 s otherwise). The waits end as
    /// soon as the answer or the close arrives; their length only covers a machine busy with other tests.
    func exchange(_ server: RunningServer, _ request: String, expectClose: Bool) async throws -> (answer: [UInt8], closed: Bool) {
        let port = server.port
        return try await blocking {
            let fd = try LoopbackHTTP.connect(port: port, timeoutSeconds: 10)
            defer { close(fd) }
            try LoopbackHTTP.sendRaw(fd, Array(request.utf8))
            let (answer, closedEarly) = try LoopbackHTTP.readAnswer(fd, timeoutSeconds: 240)
            if closedEarly { return (answer, true) }
            let (rest, closed) = try LoopbackHTTP.readUntilClosed(fd, timeoutSeconds: expectClose ? 20 : 1)
            return (answer + rest, closed)
        }
    }

    @Test func http10WithoutKeepAliveIsClosedAfterTheAnswer() async throws {
        let server = try await RunningServer()
        let (answer, closed) = try await exchange(server, "GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", expectClose: true)
        #expect(lowerCasedHead(answer).first == "http/1.1 200 ok")
        #expect(String(decoding: answer, as: UTF8.self).hasSuffix("\r\n\r\nok\n"))
        #expect(closed, "the server kept an HTTP/1.0 connection without keep-alive open")
        #expect(lowerCasedHead(answer).contains("connection: close"))
        await server.stop()
    }

    @Test func http10WithKeepAliveStaysOpenForTheNextRequest() async throws {
        let server = try await RunningServer()
        let port = server.port
        let (first, openAfterFirst, second, closedAfterSecond) = try await blocking {
            let fd = try LoopbackHTTP.connect(port: port, timeoutSeconds: 10)
            defer { close(fd) }
            try LoopbackHTTP.sendRaw(fd, Array("GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n".utf8))
            let (first, closedEarly) = try LoopbackHTTP.readAnswer(fd, timeoutSeconds: 240)
            let (extra, closed) = closedEarly ? ([], true) : try LoopbackHTTP.readUntilClosed(fd, timeoutSeconds: 1)
            // The same connection takes a second request; HTTP/1.0 without keep-alive ends it.
            try LoopbackHTTP.sendRaw(fd, Array("GET /readyz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".utf8))
            let (second, closedEarlyAfter) = try LoopbackHTTP.readAnswer(fd, timeoutSeconds: 240)
            let closedAfter = closedEarlyAfter ? true : try LoopbackHTTP.readUntilClosed(fd, timeoutSeconds: 20).closed
            return (first + extra, !closed, second, closedAfter)
        }
        #expect(lowerCasedHead(first).first == "http/1.1 200 ok")
        #expect(String(decoding: first, as: UTF8.self).hasSuffix("\r\n\r\nok\n"))
        #expect(openAfterFirst, "an HTTP/1.0 keep-alive connection was closed")
        #expect(lowerCasedHead(first).contains("connection: keep-alive"))
        #expect(lowerCasedHead(second).first == "http/1.1 200 ok")
        #expect(String(decoding: second, as: UTF8.self).hasSuffix("\r\n\r\nready: log position 0\n"))
        #expect(lowerCasedHead(second).contains("connection: close"))
        #expect(closedAfterSecond)
        await server.stop()
    }

    @Test(arguments: ["close", "Close", "keep-alive, close"])
    func http11ClosesWhenTheRequestSaysClose(_ value: String) async throws {
        let server = try await RunningServer()
        let (answer, closed) = try await exchange(server, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: \(value)\r\n\r\n", expectClose: true)
        #expect(lowerCasedHead(answer).first == "http/1.1 200 ok")
        #expect(closed, "Connection: \(value)")
        #expect(lowerCasedHead(answer).contains("connection: close"))
        await server.stop()
    }

    @Test func http11PersistsByDefault() async throws {
        let server = try await RunningServer()
        let (answer, closed) = try await exchange(server, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", expectClose: false)
        #expect(lowerCasedHead(answer).first == "http/1.1 200 ok")
        #expect(!closed)
        #expect(!lowerCasedHead(answer).contains { $0.hasPrefix("connection:") })
        await server.stop()
    }
}

/// `Expect: 100-continue` (RFC 9110 §10.1.1) is answered with `100 Continue` before the body is sent,
/// then the final answer follows (a libcurl client stalled a second per request without it).
@Test func expectContinueIsAnsweredBeforeTheBody() async throws {
    let server = try await RunningServer()
    let port = server.port
    let body = try Fixtures.corpus("sparkpost/gosparkpost/webhook-batch-sample-events.json")
    let (interim, final) = try await onThreadOfItsOwn { () throws -> ([UInt8], [UInt8]) in
        let fd = try LoopbackHTTP.connect(port: port, timeoutSeconds: 10)
        defer { close(fd) }
        try LoopbackHTTP.sendRaw(fd, LoopbackHTTP.head(method: "POST", path: "/webhooks/sparkpost",
                                                       headers: [RunningServer.auth, ("Expect", "100-Continue")], contentLength: body.count))
        let (interim, _) = try LoopbackHTTP.readAnswer(fd, timeoutSeconds: 10)  // before any body byte
        try LoopbackHTTP.sendRaw(fd, body)
        let (final, _) = try LoopbackHTTP.readAnswer(fd, timeoutSeconds: 240)  // the route answers: it needs a pool thread, and the whole suite loads them (a minute was not enough once)
        return (interim, final)
    }
    #expect(String(decoding: interim, as: UTF8.self).hasPrefix("HTTP/1.1 100 Continue\r\n"), "\(String(decoding: interim, as: UTF8.self))")
    #expect(String(decoding: final, as: UTF8.self).hasPrefix("HTTP/1.1 200"), "\(String(decoding: final, as: UTF8.self))")
    await server.stop()
}

/// A request whose declared body is over the limit gets no `100 Continue`: the 413 comes at once,
/// from the head alone, and the connection closes (found by a tester: it was 100, then 413, so the
/// client sent the whole body for nothing).
@Test func expectContinueOverTheBodyLimitIsAnswered413WithoutContinue() async throws {
    let server = try await RunningServer(maximumBodyBytes: 100)
    let port = server.port
    let (answer, closed) = try await onThreadOfItsOwn { () throws -> ([UInt8], Bool) in
        let fd = try LoopbackHTTP.connect(port: port, timeoutSeconds: 60)
        defer { close(fd) }
        try LoopbackHTTP.sendRaw(fd, LoopbackHTTP.head(method: "POST", path: "/webhooks/sparkpost",
                                                       headers: [RunningServer.auth, ("Expect", "100-continue")], contentLength: 1000))
        let (answer, _) = try LoopbackHTTP.readAnswer(fd, timeoutSeconds: 240)  // no body byte sent (240 s: the whole suite, starting at once, loads the machine)
        var byte: UInt8 = 0
        let more = read(fd, &byte, 1)  // the server closed: end of stream
        return (answer, more == 0)
    }
    let text = String(decoding: answer, as: UTF8.self)
    #expect(text.hasPrefix("HTTP/1.1 413"), "\(text)")
    #expect(text.lowercased().contains("connection: close"), "\(text)")
    #expect(closed)
    await server.stop()
}

/// A client that sends the refused body anyway, then a pipelined request, gets the 413 and the end of
/// the connection: neither the body nor the request after it is read (RFC 9110 §10.1.1: the server
/// answered before the content and said it closes).
@Test func bodySentAnywayAfterAnExpectRefusalIsNotRead() async throws {
    let server = try await RunningServer(maximumBodyBytes: 100)
    let port = server.port
    let before = try server.position()
    let batch = try Fixtures.corpus("sparkpost/gosparkpost/webhook-batch-sample-events.json")
    let bytes = try await onThreadOfItsOwn { () throws -> [UInt8] in
        let fd = try LoopbackHTTP.connect(port: port, timeoutSeconds: 300)
        defer { close(fd) }
        let (name, value) = RunningServer.auth  // a persistent connection: the GET would be read next
        let head = "POST /webhooks/sparkpost HTTP/1.1\r\nHost: x\r\n\(name): \(value)\r\nExpect: 100-continue\r\nContent-Length: \(batch.count)\r\n\r\n"
        try LoopbackHTTP.sendRaw(fd, Array(head.utf8) + batch + Array("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        return try LoopbackHTTP.readUntilClosed(fd, timeoutSeconds: 300).bytes
    }
    let text = String(decoding: bytes, as: UTF8.self)
    #expect(text.hasPrefix("HTTP/1.1 413"), "\(text)")
    #expect(text.components(separatedBy: "HTTP/1.1 ").count == 2, "one answer only: \(text)")
    #expect(try server.position() == before)
    await server.stop()
}

/// The 413 to an over-limit `Expect: 100-continue` request survives a route slow to answer: the
/// client waits for a `100 Continue` that will not come and sends nothing, and Hummingbird closes a
/// connection whose request is still being read once it has been idle for the idle timeout — the
/// whole suite's load once held the route past it and the client read an empty answer. Here every
/// thread of Swift's cooperative pool (which runs the routes) is held for 3 s, three idle timeouts.
@Test func expectContinueOverTheBodyLimitIsAnswered413EvenWhenTheRouteIsSlowerThanTheIdleTimeout() async throws {
    let server = try await RunningServer(maximumBodyBytes: 100, configure: { $0.idleTimeout = .seconds(1) })
    let port = server.port
    let busy = (0..<ProcessInfo.processInfo.activeProcessorCount).map { _ in
        Task.detached { _ = usleep(3_000_000) }  // blocks its pool thread on purpose
    }
    let (answer, closed) = try await onThreadOfItsOwn { () throws -> ([UInt8], Bool) in
        Thread.sleep(forTimeInterval: 0.2)  // the pool is held by then
        let fd = try LoopbackHTTP.connect(port: port, timeoutSeconds: 300)
        defer { close(fd) }
        try LoopbackHTTP.sendRaw(fd, LoopbackHTTP.head(method: "POST", path: "/webhooks/sparkpost",
                                                       headers: [RunningServer.auth, ("Expect", "100-continue")], contentLength: 1000))
        let (answer, _) = try LoopbackHTTP.readAnswer(fd, timeoutSeconds: 240)
        var byte: UInt8 = 0
        let more = read(fd, &byte, 1)
        return (answer, more == 0)
    }
    for task in busy { await task.value }
    let text = String(decoding: answer, as: UTF8.self)
    #expect(text.hasPrefix("HTTP/1.1 413"), "\(text)")
    #expect(text.lowercased().contains("connection: close"), "\(text)")
    #expect(closed)
    await server.stop()
}

/// Found by a tester: without `Expect`, a whole over-limit body sent with its head left the
/// connection open, and a request pipelined after it was appended. Refused from its head, the
/// request's answer says `Connection: close`, the connection ends, nothing after it is read.
@Test func aPipelinedRequestAfterAnOverLimitBodyIsNotRead() async throws {
    let server = try await RunningServer(maximumBodyBytes: 100)
    let port = server.port
    let before = try server.position()
    let batch = try Fixtures.corpus("sparkpost/gosparkpost/webhook-batch-sample-events.json")
    let small = Array(#"[{"msys":{"message_event":{"type":"injection","event_id":"e1","campaign_id":"d","rcpt_to":"a@example.com","timestamp":"1700000000"}}}]"#.utf8)
    let bytes = try await onThreadOfItsOwn { () throws -> [UInt8] in
        let fd = try LoopbackHTTP.connect(port: port, timeoutSeconds: 300)
        defer { close(fd) }
        let (name, value) = RunningServer.auth
        func post(_ body: [UInt8]) -> [UInt8] {
            Array("POST /webhooks/sparkpost HTTP/1.1\r\nHost: x\r\n\(name): \(value)\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body
        }
        try LoopbackHTTP.sendRaw(fd, post(batch) + post(small))
        return try LoopbackHTTP.readUntilClosed(fd, timeoutSeconds: 300).bytes
    }
    let text = String(decoding: bytes, as: UTF8.self)
    #expect(text.hasPrefix("HTTP/1.1 413"), "\(text)")
    #expect(text.lowercased().contains("connection: close"), "\(text)")
    #expect(text.components(separatedBy: "HTTP/1.1 ").count == 2, "one answer only: \(text)")
    #expect(try server.position() == before)
    await server.stop()
}

/// Found by a tester: a `Content-Length` of 2^63 or more (SwiftNIO's parser takes up to 2^64 − 1)
/// was read as no length, so the head got `100 Continue` over the limit. It is over any limit.
@Test func aContentLengthBeyondIntIsOverTheLimit() async throws {
    let server = try await RunningServer(maximumBodyBytes: 100)
    for length in ["9223372036854775808", "18446744073709551615"] {
        let head = "POST /webhooks/sparkpost HTTP/1.1\r\nHost: x\r\n\(RunningServer.auth.0): \(RunningServer.auth.1)\r\nExpect: 100-continue\r\nContent-Length: \(length)\r\n\r\n"
        let reply = try LoopbackHTTP.exchange(port: server.port, raw: Array(head.utf8), timeoutSeconds: 300)
        #expect(reply.status == 413, "\(length): \(reply.status)")
    }
    #expect(try server.position() == 0)
    await server.stop()
}

/// Found by a tester: a request asking `Expect: 100-continue` pipelined behind one still being
/// answered never got its `100 Continue` (the client waited, then got a 408). It gets it once the
/// earlier answer ends (RFC 9110 §10.1.1: the server does not wait for the content), and its body's
/// clock starts then: here the earlier answer is held 3 s (every thread of the cooperative pool,
/// which runs the routes, is busy) with a 1 s body deadline, and the request still goes through.
@Test func aPipelinedExpectGetsItsContinueAfterTheEarlierAnswer() async throws {
    // The idle timeout well above the waits: the POST's head, read while the client waits for its
    // 100, counts as a request being read.
    let server = try await RunningServer(configure: {
        $0.idleTimeout = .seconds(600)
        $0.bodyDeadline = BodyDeadline(initialSeconds: 1)
    })
    let port = server.port
    let busy = (0..<ProcessInfo.processInfo.activeProcessorCount).map { _ in
        Task.detached { _ = usleep(3_000_000) }  // blocks its pool thread on purpose
    }
    defer { for task in busy { task.cancel() } }
    let body = try Fixtures.corpus("sparkpost/gosparkpost/webhook-batch-sample-events.json")
    let (first, final) = try await onThreadOfItsOwn { () throws -> ([UInt8], [UInt8]) in
        usleep(200_000)  // the pool is held by then
        let fd = try LoopbackHTTP.connect(port: port, timeoutSeconds: 300)
        defer { close(fd) }
        let (name, value) = RunningServer.auth
        let requests = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
            + "POST /webhooks/sparkpost HTTP/1.1\r\nHost: x\r\n\(name): \(value)\r\nExpect: 100-continue\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        try LoopbackHTTP.sendRaw(fd, Array(requests.utf8))
        // The healthz answer, then the interim answer, before any body byte is sent.
        var seen: [UInt8] = []
        let deadline = Date().addingTimeInterval(300)
        while !String(decoding: seen, as: UTF8.self).contains("100 Continue\r\n\r\n"), Date() < deadline {
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = read(fd, &chunk, chunk.count)
            if n <= 0 { break }
            seen += chunk[0..<n]
        }
        try LoopbackHTTP.sendRaw(fd, body)
        return (seen, try LoopbackHTTP.readUntilClosed(fd, timeoutSeconds: 300).bytes)
    }
    let interim = String(decoding: first, as: UTF8.self)
    #expect(interim.hasPrefix("HTTP/1.1 200"), "\(interim)")
    #expect(interim.contains("HTTP/1.1 100 Continue\r\n"), "\(interim)")
    #expect(String(decoding: final, as: UTF8.self).hasPrefix("HTTP/1.1 200"), "\(String(decoding: final, as: UTF8.self))")
    await server.stop()
}
