import DeliveryLedger
import Foundation
@testable import LedgerServer
import LedgerTestSupport
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Synchronization
import Testing

/// Clients that send slowly or keep sending after a refusal, over real loopback sockets: a body that
/// trickles in is answered 408 and appends nothing (``RequestBodyDeadlineHandler``); a refused client
/// still uploading reads its answer instead of a reset (``LingeringClose``). The blocking socket work
/// runs on threads of their own (Dispatch's few global threads are the servers').
@Suite(.serialized) struct SlowClientTests {
    /// The reasons a handler refused with.
    final class Refusals: Sendable { let list = Mutex<[String]>([]) }

    /// Runs `work` on a thread of its own.
    func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try work() }) }.start()
        }
    }

    /// The rule: 20 s from the head by default, one more second a 500 bytes (Apache's mod_reqtimeout).
    @Test func theDeadlineGrowsWithTheBytesReceived() {
        let rule = BodyDeadline()
        #expect(rule.allowedSeconds(received: 0) == 20)
        #expect(rule.allowedSeconds(received: 1_000) == 22)
        #expect(rule.allowedSeconds(received: 1 << 20) == 20 + 2097.152)
        #expect(BodyDeadline(initialSeconds: 1, minimumBytesPerSecond: 0).minimumBytesPerSecond == 1)
    }

    /// An embedded channel (a virtual clock) with SwiftNIO's response encoder and the handler under
    /// test (body limit 1 MiB); the refusals it reports.
    static func embedded(_ deadline: BodyDeadline) throws -> (EmbeddedChannel, Refusals) {
        let channel = EmbeddedChannel()
        let refused = Refusals()
        try channel.pipeline.syncOperations.addHandler(HTTPResponseEncoder())
        try channel.pipeline.syncOperations.addHandler(RequestBodyDeadlineHandler(
            deadline: deadline, maximumBodyBytes: 1 << 20, onRefusal: { r in refused.list.withLock { $0.append(r) } }))
        return (channel, refused)
    }

    /// On a virtual event loop (SwiftNIO's embedded channel): a body declared over the limit has no
    /// clock (the route answers 413 from the head: a loaded run had such a request answered 408
    /// first), and once it is answered the connection ends (the body is not wanted).
    @Test func aBodyOverTheLimitIsNotTimedAndItsAnswerEndsTheConnection() throws {
        let (channel, refused) = try Self.embedded(BodyDeadline(initialSeconds: 10, minimumBytesPerSecond: 100))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        func head(_ length: Int) -> HTTPServerRequestPart {
            var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/events")
            head.headers.add(name: "Content-Length", value: String(length))
            return .head(head)
        }
        // Over the limit: never timed; once answered (413), the connection ends (the body is not wanted).
        try channel.writeInbound(head(2 << 20))
        channel.read()
        channel.embeddedEventLoop.advanceTime(by: .seconds(600))
        #expect(refused.list.withLock { $0 }.isEmpty && channel.isActive)
        try channel.writeOutbound(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: .payloadTooLarge)))
        try channel.writeOutbound(HTTPServerResponsePart.end(nil))
        channel.embeddedEventLoop.advanceTime(by: .seconds(3))
        #expect(!channel.isActive, "the connection stayed open after an answer given before the body")
        _ = try? channel.finish()
    }

    /// The clock starts at the head, runs only while the route asks for bytes (a loaded machine's own
    /// slowness is not the client's), and each byte received buys time.
    @Test func theClockCountsOnlyTheClientsTime() throws {
        let (channel, refused) = try Self.embedded(BodyDeadline(initialSeconds: 10, minimumBytesPerSecond: 100))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/events")
        head.headers.add(name: "Content-Length", value: "100000")
        // Within the limit: timed from the head.
        try channel.writeInbound(HTTPServerRequestPart.head(head))
        channel.read()  // the route asks for the body
        channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        try channel.writeInbound(HTTPServerRequestPart.body(ByteBuffer(repeating: 0x78, count: 500)))  // 5 s more
        // The route does not ask for more for 100 s (the machine is busy): not the client's time.
        channel.embeddedEventLoop.advanceTime(by: .seconds(100))
        #expect(refused.list.withLock { $0 }.isEmpty, "the service's own delay was counted")
        channel.read()
        channel.embeddedEventLoop.advanceTime(by: .seconds(5))
        #expect(refused.list.withLock { $0 }.isEmpty, "refused at 14 s of 15 allowed")
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))  // the deadline, 10 s + 500 B / 100 B/s = 15 s, passed
        #expect(refused.list.withLock { $0 } == ["request_timeout"])
        var written = ""
        while let bytes = try channel.readOutbound(as: ByteBuffer.self) { written += String(buffer: bytes) }
        #expect(written.hasPrefix("HTTP/1.1 408 Request Timeout\r\n") && written.contains("500 bytes in 15.0 s of waiting"), "\(written)")
        _ = try? channel.finish()
    }

    /// A request read to its end, or whose body SwiftNIO could not read (the route answers that), is
    /// never answered 408, however long the route then takes.
    @Test func aRequestReadToItsEndIsNeverAnswered408() throws {
        let (channel, refused) = try Self.embedded(BodyDeadline(initialSeconds: 1, minimumBytesPerSecond: 100))
        try channel.writeInbound(HTTPServerRequestPart.head(HTTPRequestHead(version: .http1_1, method: .POST, uri: "/events")))
        channel.read()
        try channel.writeInbound(HTTPServerRequestPart.end(nil))
        channel.read()
        channel.embeddedEventLoop.advanceTime(by: .seconds(600))  // the append runs long
        try channel.writeInbound(HTTPServerRequestPart.head(HTTPRequestHead(version: .http1_1, method: .POST, uri: "/events")))
        channel.read()
        channel.pipeline.fireErrorCaught(HTTPParserError.invalidChunkSize)
        channel.embeddedEventLoop.advanceTime(by: .seconds(600))
        #expect(refused.list.withLock { $0 }.isEmpty)
        _ = try? channel.finish()
    }

    /// A body sent 10 bytes every 200 ms (50 B/s) against a rule of 1 s + 1 s a 1,000 bytes: answered
    /// 408 `request_timeout` after about a second, saying how much arrived; nothing appended; the
    /// connection closed. A body sent at once under the same rule is appended.
    @Test func aBodyThatTricklesInIsAnswered408AndNothingIsAppended() async throws {
        let server = try await RunningServer(credentials: nil, configure: {
            $0.insecureNoAuthentication = true
            $0.bodyDeadline = BodyDeadline(initialSeconds: 1, minimumBytesPerSecond: 1_000)
        })
        let port = server.port
        let line = #"{"id":"e1","kind":"relay","delivery":"d1","recipient":"a@example.com","occurredAt":"2026-12-01T10:00:00Z"}"# + "\n"
        let body = Array(String(repeating: line, count: 200).utf8)
        let (answer, closed, sent, seconds) = try await onThread { () throws -> (String, Bool, Int, Double) in
            let fd = try LoopbackHTTP.connect(port: port, timeoutSeconds: 30)
            defer { close(fd) }
            try LoopbackHTTP.sendRaw(fd, LoopbackHTTP.head(method: "POST", path: "/events", headers: [("Content-Type", "application/x-ndjson")],
                                                          contentLength: body.count))
            let start = Date()
            var sent = 0
            // Trickle until the server answers (a short read timeout between sends), at most 15 s.
            while sent < body.count, Date().timeIntervalSince(start) < 15 {
                let chunk = Array(body[sent..<min(sent + 10, body.count)])
                if (try? LoopbackHTTP.sendRaw(fd, chunk)) == nil { break }  // the server closed its side
                sent += chunk.count
                var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                if poll(&ready, 1, 200) > 0 { break }
            }
            let (bytes, closed) = try LoopbackHTTP.readUntilClosed(fd, timeoutSeconds: 10)
            return (String(decoding: bytes, as: UTF8.self), closed, sent, Date().timeIntervalSince(start))
        }
        #expect(answer.hasPrefix("HTTP/1.1 408 Request Timeout\r\n"), "\(answer)")
        let json = answer.components(separatedBy: "\r\n\r\n").last.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String] }
        #expect(json?["reason"] == "request_timeout", "\(answer)")
        #expect(json?["error"]?.contains("arrived too slowly") == true && json?["error"]?.contains("nothing of it was appended") == true, "\(answer)")
        #expect(closed)
        // About 1 s plus what ~50 bytes earned (0.05 s); well under the 15 s the client would trickle.
        #expect(seconds < 5, "answered after \(seconds) s, \(sent) bytes sent")
        #expect(sent < body.count)
        #expect(try server.position() == 0)
        // The same body sent at once is within the rule.
        let accepted = try await server.send("POST", "/events", headers: [("Content-Type", "application/x-ndjson")], body: Array(line.utf8))
        #expect(accepted.status == 200, "\(accepted.text)")
        #expect(try server.position() == 1)
        let metrics = try await server.send("GET", "/metrics").text
        #expect(metrics.contains("ledger_rejected_requests_total{reason=\"request_timeout\"} 1"), "\(metrics)")
        #expect(!metrics.contains("reason=\"body_incomplete\""), "a 408 counted twice: \(metrics)")
        await server.stop()
    }

    /// A client answered 408 that then sends the rest of its body (512 KiB in 64 KiB writes) has every
    /// write taken and reads the 408 — the service half-closes and lingers after a 408 too.
    @Test func aClientAnswered408ThatThenSendsItsBodyReadsTheAnswer() async throws {
        let server = try await RunningServer(credentials: nil, configure: {
            $0.insecureNoAuthentication = true
            $0.bodyDeadline = BodyDeadline(initialSeconds: 1, minimumBytesPerSecond: 1_000)
        })
        let port = server.port
        let (sendError, answer) = try await onThread {
            // The 408 arrives after about a second; then the body is sent.
            try Self.uploadThenRead(port: port, head: LoopbackHTTP.head(method: "POST", path: "/events", headers: [], contentLength: 600 << 10),
                                    waitForAnswer: true)
        }
        #expect(sendError == nil, "\(sendError ?? "")")
        #expect(answer.hasPrefix("HTTP/1.1 408 Request Timeout\r\n"), "\(answer)")
        #expect(try server.position() == 0)
        await server.stop()
    }

    /// A request answered before its body was read — 413 from a head over `--max-body`, or a route
    /// that reads no body — ends its connection after the answer: the rest of a dripped body is
    /// dropped for at most 2 s, not read for as long as the client likes (a tester held every place
    /// under --max-connections with 413s kept alive).
    @Test(arguments: [
        ("POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n", "HTTP/1.1 413"),
        ("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n", "HTTP/1.1 200"),
    ])
    func anAnswerBeforeTheBodyEndsTheConnection(_ head: String, _ status: String) async throws {
        let server = try await RunningServer(credentials: nil, maximumBodyBytes: 1_000, configure: { $0.insecureNoAuthentication = true })
        let port = server.port
        let (answer, closed, seconds) = try await onThread { () throws -> (String, Bool, Double) in
            let fd = try LoopbackHTTP.connect(port: port, timeoutSeconds: 30)
            defer { close(fd) }
            try LoopbackHTTP.sendRaw(fd, Array(head.utf8))
            let (bytes, _) = try LoopbackHTTP.readAnswer(fd, timeoutSeconds: 10)
            let start = Date()
            // Drip the body, a byte every 200 ms, until the service closes (at most 15 s).
            var closed = false
            while Date().timeIntervalSince(start) < 15 {
                if (try? LoopbackHTTP.sendRaw(fd, Array("x".utf8))) == nil { closed = true; break }
                var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                if poll(&ready, 1, 200) > 0 {
                    var byte: UInt8 = 0
                    if recv(fd, &byte, 1, 0) <= 0 { closed = true; break }
                }
            }
            return (String(decoding: bytes, as: UTF8.self), closed, Date().timeIntervalSince(start))
        }
        #expect(answer.hasPrefix(status), "\(answer)")
        #expect(closed && seconds < 5, "closed \(closed) after \(seconds) s")
        #expect(try server.position() == 0)
        await server.stop()
    }

    /// A tester's three ways round the clock, each a slowloris asking `Expect: 100-continue` where no
    /// `100 Continue` is written (an HTTP/1.0 request, whose expectation is ignored; an `Expect` list;
    /// a request pipelined behind another): each is answered 408 as any other.
    @Test(arguments: [
        "POST /events HTTP/1.0\r\nHost: x\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n",
        "POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nExpect: 100-continue, x\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nPOST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n",
    ])
    func aSlowBodyAskingForContinueIsAnswered408(_ head: String) async throws {
        let server = try await RunningServer(credentials: nil, configure: {
            $0.insecureNoAuthentication = true
            $0.bodyDeadline = BodyDeadline(initialSeconds: 1, minimumBytesPerSecond: 1_000)
        })
        let port = server.port
        let answer = try await onThread { () throws -> String in
            let fd = try LoopbackHTTP.connect(port: port, timeoutSeconds: 30)
            defer { close(fd) }
            try LoopbackHTTP.sendRaw(fd, Array(head.utf8))
            let start = Date()
            while Date().timeIntervalSince(start) < 10 {
                if (try? LoopbackHTTP.sendRaw(fd, Array("x".utf8))) == nil { break }
                var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                if poll(&ready, 1, 500) > 0 {
                    // The pipelined GET's answer may come first: read on until the 408 or the close.
                    let (bytes, _) = try LoopbackHTTP.readUntilClosed(fd, timeoutSeconds: 5)
                    return String(decoding: bytes, as: UTF8.self)
                }
            }
            return "no answer in 10 s"
        }
        #expect(answer.contains("408 Request Timeout\r\n") && answer.contains("\"reason\":\"request_timeout\""), "\(answer)")
        #expect(try server.position() == 0)
        await server.stop()
    }

    /// Sends `head`, waits 100 ms (the server has answered and, before, closed by then) or until the
    /// answer arrives (`waitForAnswer`), then 512 KiB
    /// of body in 64 KiB writes 10 ms apart, as a client that writes its whole request before it reads
    /// (curl does); then reads. Returns the first send error (nil: every write was taken) and the answer.
    static func uploadThenRead(port: Int, head: [UInt8], waitForAnswer: Bool = false) throws -> (sendError: String?, answer: String) {
        let fd = try LoopbackHTTP.connect(port: port, timeoutSeconds: 30)
        defer { close(fd) }
        var sendError: String?
        do {
            try LoopbackHTTP.sendRaw(fd, head)
            if waitForAnswer {  // until the answer arrives (at most 10 s)
                var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                _ = poll(&ready, 1, 10_000)
            } else {
                usleep(100_000)
            }
            for _ in 0..<8 {
                try LoopbackHTTP.sendRaw(fd, [UInt8](repeating: UInt8(ascii: "x"), count: 64 << 10))
                usleep(10_000)
            }
        } catch {
            sendError = "\(error)"
        }
        return (sendError, String(decoding: try LoopbackHTTP.readUntilClosed(fd, timeoutSeconds: 10).bytes, as: UTF8.self))
    }

    /// A client over the connection limit that uploads 512 KiB before it reads has every write taken
    /// and then reads the whole 503 answer and the end of the stream — closed at once, the server made
    /// the kernel reset the connection and the client's writes failed ("broken pipe", "connection
    /// reset") before it read anything.
    @Test func aRefusedClientStillUploadingReadsItsAnswer() async throws {
        let server = try await RunningServer(credentials: nil, configure: { $0.insecureNoAuthentication = true; $0.maximumConnections = 1 })
        let port = server.port
        let results = try await onThread { () throws -> [(String?, String)] in
            let held = try LoopbackHTTP.connect(port: port, timeoutSeconds: 30)
            defer { close(held) }
            usleep(200_000)
            return try (0..<3).map { _ in
                try Self.uploadThenRead(port: port, head: LoopbackHTTP.head(method: "POST", path: "/events", headers: [], contentLength: 512 << 10))
            }
        }
        for (sendError, answer) in results {
            #expect(sendError == nil, "\(sendError ?? "")")
            #expect(answer.hasPrefix("HTTP/1.1 503 Service Unavailable\r\n") && answer.contains("\"reason\":\"too_many_connections\""), "\(answer)")
        }
        #expect(try server.position() == 0)
        await server.stop()
    }

    /// The same for a refusal before any route (a request without Host) whose body keeps coming.
    @Test func aRefusedRequestFollowedByMoreBytesIsAnswered() async throws {
        let server = try await RunningServer(credentials: nil, configure: { $0.insecureNoAuthentication = true })
        let port = server.port
        let (sendError, answer) = try await onThread {
            try Self.uploadThenRead(port: port, head: Array("POST /events HTTP/1.1\r\nContent-Length: 524288\r\n\r\n".utf8))
        }
        #expect(sendError == nil, "\(sendError ?? "")")
        #expect(answer.hasPrefix("HTTP/1.1 400 Bad Request\r\n") && answer.contains("\"reason\":\"malformed_request\""), "\(answer)")
        #expect(try server.position() == 0)
        await server.stop()
    }
}
