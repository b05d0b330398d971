import DeliveryLedger
import Foundation
import LedgerCLI
import LedgerServer
import LedgerTestSupport
import Testing

/// `POST /webhooks/sparkpost` and `POST /events` over real HTTP on loopback (issue #13).
@Suite struct WebhookTests {
    /// Each real SparkPost batch POSTed gives the same KPIs, under both semantics, as `ledger ingest`
    /// of the same file, and the same number of appended events.
    // One case at a time, and the in-process CLI off the cooperative pool: blocking work on the pool's
    // few threads (one per core) would starve the servers' handlers of the other cases.
    @Test(.serialized, arguments: Fixtures.webhookBatches)
    func corpusBatchGivesTheKPIsOfIngest(_ file: String) async throws {
        let server = try await RunningServer()
        let reply = try await server.postBatch(try Fixtures.corpus(file))
        #expect(reply.status == 200, "\(reply.text)")
        let answer = try #require(reply.json)

        let cli = TemporaryDirectory("ledger-ingest")
        let arguments = ["ingest", "--db", cli.path("l"), try Fixtures.corpusPath(file)]
        let ingest = try await offPool { LedgerCLI.run(arguments) }
        #expect(ingest.exitCode == 0, "\(ingest.error)")
        let ingested = try Ledger(path: cli.path("l"))
        #expect(answer["appended"] as? Int == Int(try ingested.basis().position))
        #expect(try server.ledger.deliveries() == ingested.deliveries())
        #expect(try !server.ledger.deliveries().isEmpty)
        for delivery in try ingested.deliveries() {
            for semantics in Semantics.allCases {
                #expect(try server.ledger.kpis(delivery: delivery, semantics: semantics) == ingested.kpis(delivery: delivery, semantics: semantics),
                        "\(file) \(delivery) \(semantics)")
            }
            for recipient in try ingested.recipients(delivery: delivery) {
                let a = try #require(try server.ledger.status(delivery: delivery, recipient: recipient, includeEvents: false))
                let b = try #require(try ingested.status(delivery: delivery, recipient: recipient, includeEvents: false))
                #expect(a.classic == b.classic && a.efs == b.efs, "\(recipient)")
            }
        }
        await server.stop()
    }

    /// The same batch again (a sender's retry after a lost answer) is answered 200 and appends
    /// nothing: every event is a duplicate (the ledger's event-id index, domain.md §2).
    @Test func repeatedBatchAppendsNothing() async throws {
        let server = try await RunningServer()
        let body = try Fixtures.corpus("sparkpost/gosparkpost/webhook-batch-sample-events.json")
        let first = try await server.postBatch(body, headers: [("X-MessageSystems-Batch-ID", "batch-1")])
        #expect(first.status == 200)
        let appended = try #require(first.json?["appended"] as? Int)
        #expect(appended > 0)
        let position = try server.position()
        let again = try await server.postBatch(body, headers: [("X-MessageSystems-Batch-ID", "batch-1")])
        #expect(again.status == 200, "\(again.text)")
        #expect(again.json?["appended"] as? Int == 0)
        #expect(again.json?["duplicates"] as? Int == appended)
        #expect(again.json?["batchId"] as? String == "batch-1")
        #expect(try server.position() == position)
        await server.stop()
    }

    /// Pings and the empty test POST SparkPost sends when a webhook is created: 200, nothing appended.
    @Test func pingsAndEmptyPostsAreAcknowledged() async throws {
        let server = try await RunningServer()
        let ping = try await server.postBatch(Array(#"[{"msys":{}}]"#.utf8))
        #expect(ping.status == 200, "\(ping.text)")
        #expect((ping.json?["skipped"] as? [String: Int])?["ping"] == 1)
        let empty = try await server.postBatch([])
        #expect(empty.status == 200, "\(empty.text)")
        #expect(empty.json?["appended"] as? Int == 0)
        #expect(try server.position() == 0)
        await server.stop()
    }

    /// No credentials, a wrong password, an unknown user, another scheme: 401 with a Basic challenge,
    /// and nothing appended; the second accepted pair (rotation) is accepted.
    @Test func credentialsAreRequired() async throws {
        let server = try await RunningServer()
        let body = try Fixtures.corpus("sparkpost/java-sparkpost/webhook-batch-captured-2017.json")
        let wrong: [[(String, String)]] = [
            [],
            [LoopbackHTTP.basic("sparkpost", "first-secreT")],
            [LoopbackHTTP.basic("sparkpost", "first-secret-and-more")],
            [LoopbackHTTP.basic("other", "first-secret")],
            [("Authorization", "Bearer first-secret")],
            [("Authorization", "Basic !!!not-base64")],
        ]
        for headers in wrong {
            let r = try await server.send("POST", "/webhooks/sparkpost", headers: headers, body: body)
            #expect(r.status == 401, "\(headers)")
            #expect(r.headers["www-authenticate"]?.hasPrefix("Basic") == true)
            let events = try await server.send("POST", "/events", headers: headers, body: Array("{}\n".utf8))
            #expect(events.status == 401)
        }
        #expect(try server.position() == 0)
        let rotated = try await server.send("POST", "/webhooks/sparkpost", headers: [LoopbackHTTP.basic("sparkpost", "second-secret")], body: body)
        #expect(rotated.status == 200, "\(rotated.text)")
        #expect(try server.position() > 0)
        await server.stop()
    }

    /// A body over `--max-body` is answered 413 and nothing is appended.
    @Test func oversizeBodyIs413() async throws {
        let body = try Fixtures.corpus("sparkpost/gosparkpost/webhook-batch-sample-events.json")
        let server = try await RunningServer(maximumBodyBytes: body.count - 1)
        let r = try await server.postBatch(body)
        #expect(r.status == 413, "\(r.text)")
        #expect(r.json?["reason"] as? String == "body_too_large")
        #expect(try server.position() == 0)
        let fits = try await server.postBatch(try Fixtures.corpus("sparkpost/anymail/bounce_event.json"))
        #expect(fits.status == 200)
        await server.stop()
    }

    /// A malformed batch is answered 400 with the located error (element index, field, as
    /// `ledger ingest` reports it) and nothing of it is appended, not even its valid elements (README
    /// "The service": why 400 rather than a dead-letter folder).
    @Test func malformedBatchIs400WithTheLocation() async throws {
        let server = try await RunningServer()
        let good = try Fixtures.corpus("sparkpost/anymail/delivery_event.json")
        // The same batch with a second element whose rcpt_to is not an address.
        var text = String(decoding: good, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(text.hasSuffix("]"))
        text.removeLast()
        text += #",{"msys":{"message_event":{"type":"delivery","event_id":"e2","campaign_id":"c","rcpt_to":"not an address","timestamp":"1464824548"}}}]"#
        let r = try await server.postBatch(Array(text.utf8))
        #expect(r.status == 400, "\(r.text)")
        #expect(r.json?["element"] as? Int == 1, "\(r.text)")
        #expect((r.json?["field"] as? String)?.contains("rcpt_to") == true, "\(r.text)")
        // Cut short: the structure is broken.
        let cut = try await server.postBatch(Array(good.prefix(good.count / 2)))
        #expect(cut.status == 400, "\(cut.text)")
        #expect(cut.json?["reason"] as? String == "malformed")
        let notJSON = try await server.postBatch(Array("hello".utf8))
        #expect(notJSON.status == 400)
        #expect(try server.position() == 0)
        await server.stop()
    }

    /// A sender that hangs up half-way through its body appends nothing, and the service goes on.
    @Test func requestCutOffHalfWayAppendsNothing() async throws {
        let server = try await RunningServer()
        let body = try Fixtures.corpus("sparkpost/gosparkpost/webhook-batch-sample-events.json")
        // Cut right after a complete element, so that what arrived would be a valid prefix if it were read.
        let text = String(decoding: body, as: UTF8.self)
        let lastElement = try #require(text.range(of: "\"msys\"", options: .backwards)).lowerBound
        let cutAt = try #require(text[..<lastElement].lastIndex(of: "{"))
        let prefix = Array(text[..<cutAt].utf8)
        #expect(String(decoding: prefix, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines).hasSuffix(","))
        let head = LoopbackHTTP.head(method: "POST", path: "/webhooks/sparkpost", headers: [RunningServer.auth], contentLength: body.count)
        let port = server.port
        try await offPool { try LoopbackHTTP.sendPartial(port: port, head: head, bodyPrefix: prefix) }
        // Chunked, cut before the last chunk.
        let chunkedHead = Array("POST /webhooks/sparkpost HTTP/1.1\r\nHost: x\r\n\(RunningServer.auth.0): \(RunningServer.auth.1)\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
        let chunk = Array(String(prefix.count, radix: 16).utf8) + Array("\r\n".utf8) + prefix + Array("\r\n".utf8)
        try await offPool { try LoopbackHTTP.sendPartial(port: port, head: chunkedHead, bodyPrefix: chunk) }
        try await Task.sleep(for: .milliseconds(300))
        #expect(try server.position() == 0)
        let whole = try await server.postBatch(body)
        #expect(whole.status == 200)
        #expect(try server.position() > 0)
        await server.stop()
    }

    /// A body the service cannot read to its end while the client still waits for the answer (a
    /// chunk-size line that is not hexadecimal) is a 400 that says so, in the JSON of every other
    /// refusal — not an empty 400 — and appends nothing.
    @Test func unreadableChunkedBodyIsExplained() async throws {
        let server = try await RunningServer()
        let port = server.port
        let raw = Array("POST /webhooks/sparkpost HTTP/1.1\r\nHost: x\r\n\(RunningServer.auth.0): \(RunningServer.auth.1)\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n[]\r\n0\r\n\r\n".utf8)
        // On a thread of its own: a blocked Dispatch worker is one the server under test may need.
        let r = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<LoopbackHTTP.Reply, any Error>) in
            Thread { continuation.resume(with: Result { try LoopbackHTTP.exchange(port: port, raw: raw, timeoutSeconds: 240) }) }.start()
        }
        #expect(r.status == 400)
        #expect(r.json?["reason"] as? String == "body_incomplete", "\(r.text)")
        #expect((r.json?["error"] as? String)?.contains("a chunk size is not a hexadecimal number") == true, "\(r.text)")
        #expect(try server.position() == 0)
        await server.stop()
    }

    /// A compressed body is refused with 415 and the codings accepted (RFC 9110 §15.5.16), before
    /// its bytes reach a reader; nothing is appended.
    @Test func aCompressedBodyIsRefusedNamingItsEncoding() async throws {
        let server = try await RunningServer()
        let port = server.port
        let body = "[]"
        let raw = Array("POST /webhooks/sparkpost HTTP/1.1\r\nHost: x\r\n\(RunningServer.auth.0): \(RunningServer.auth.1)\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)".utf8)
        let r = try await offPool { try LoopbackHTTP.exchange(port: port, raw: raw, timeoutSeconds: 120) }
        #expect(r.status == 415, "\(r.text)")
        #expect(r.json?["reason"] as? String == "unsupported_content_encoding", "\(r.text)")
        #expect((r.json?["error"] as? String)?.contains("gzip") == true, "\(r.text)")
        #expect(r.headers["accept-encoding"] == "identity", "\(r.headers)")
        #expect(try server.position() == 0)
        await server.stop()
    }

    /// A request no route answers gets a body that says so: a webhook endpoint opened with GET
    /// (the URL pasted in a browser) is 405 with `Allow: POST`, an unknown path 404, both JSON.
    @Test func unmatchedRoutesAreExplained() async throws {
        let server = try await RunningServer()
        let get = try await server.send("GET", "/webhooks/sparkpost")
        #expect(get.status == 405, "\(get.text)")
        #expect(get.headers["allow"] == "POST")
        #expect(get.json?["reason"] as? String == "method_not_allowed", "\(get.text)")
        // The same with a trailing slash; a read route asked with POST or DELETE: 405, Allow: GET, HEAD.
        #expect(try await server.send("GET", "/webhooks/sparkpost/").status == 405)
        for (method, path) in [("POST", "/api/deliveries"), ("DELETE", "/metrics"), ("PUT", "/delivery"), ("POST", "/api/audit/")] {
            let r = try await server.send(method, path)
            #expect(r.status == 405 && r.headers["allow"] == "GET, HEAD", "\(method) \(path): \(r.status) \(r.text)")
            #expect(r.json?["reason"] as? String == "method_not_allowed")
        }
        let unknown = try await server.send("GET", "/no/such/page")
        #expect(unknown.status == 404)
        #expect(unknown.json?["reason"] as? String == "not_found", "\(unknown.text)")
        #expect((unknown.json?["error"] as? String)?.contains("/no/such/page") == true, "\(unknown.text)")
        // A matched route's own 404 (an unknown delivery) keeps its answer.
        let delivery = try await server.send("GET", "/api/deliveries?delivery=nope")
        #expect(delivery.status == 404)
        #expect((delivery.json?["error"] as? String)?.contains("unknown delivery") == true, "\(delivery.text)")
        await server.stop()
    }

    /// `POST /events` reads canonical JSON Lines with the reader of `ledger ingest`.
    @Test func canonicalJSONLines() async throws {
        let server = try await RunningServer()
        let lines = """
            {"id":"r1","kind":"relay","delivery":"d1","recipient":"a@example.com","occurredAt":"2026-11-02T09:00:00Z"}
            {"id":"b1","kind":"bounce","delivery":"d1","recipient":"a@example.com","occurredAt":"2026-11-02T09:05:00Z","bounceClass":10,"smtpCode":550,"response":"550 5.1.1 user unknown"}

            """
        let r = try await server.send("POST", "/events", headers: [RunningServer.auth], body: Array(lines.utf8))
        #expect(r.status == 200, "\(r.text)")
        #expect(r.json?["appended"] as? Int == 2)
        let status = try #require(try server.ledger.status(delivery: "d1", recipient: "a@example.com", includeEvents: false))
        #expect(status.classic.status == .failed)
        let bad = try await server.send("POST", "/events", headers: [RunningServer.auth],
                                        body: Array(#"{"id":"x","kind":"relay","delivery":"d1","recipient":"b@example.com","occurredAt":"2026-11-02T09:00:00Z","color":"red"}"#.utf8))
        #expect(bad.status == 400)
        #expect(bad.json?["line"] as? Int == 1, "\(bad.text)")
        #expect(try server.position() == 2)
        await server.stop()
    }
}

/// Group commit: concurrent requests' batches share commits, and each request is answered for its
/// own batch exactly as if it had been appended alone.
@Suite struct GroupCommitOverHTTPTests {
    /// 24 concurrent clients, each POSTing 2 events of its own recipient, one of them repeating the
    /// batch of another (duplicates) and one sending an id already recorded with other content
    /// (409): the 23 others are appended whole, the conflicting one not at all.
    @Test func concurrentBatchesAreEachAnsweredForThemselves() async throws {
        let server = try await RunningServer()
        func lines(_ n: Int, deliveredAt minute: Int = 5) -> [UInt8] {
            Array("""
                {"id":"r\(n)","kind":"relay","delivery":"d1","recipient":"r\(n)@example.com","occurredAt":"2026-11-02T09:00:00Z"}
                {"id":"v\(n)","kind":"delivered","delivery":"d1","recipient":"r\(n)@example.com","occurredAt":"2026-11-02T09:0\(minute):00Z","smtpCode":250}

                """.utf8)
        }
        let first = try await server.send("POST", "/events", headers: [RunningServer.auth], body: lines(0))
        #expect(first.status == 200, "\(first.text)")
        // Client 0 repeats the batch above; client 1 sends r0's delivery id with another time: a conflict.
        let bodies = [lines(0), lines(0, deliveredAt: 7)] + (2..<24).map { lines($0) }
        let replies = try await withThrowingTaskGroup(of: (Int, LoopbackHTTP.Reply).self) { group in
            for (i, body) in bodies.enumerated() {
                group.addTask { (i, try await server.send("POST", "/events", headers: [RunningServer.auth], body: body)) }
            }
            var replies = [Int: LoopbackHTTP.Reply]()
            for try await (i, reply) in group { replies[i] = reply }
            return replies
        }
        #expect(replies[0]?.status == 200)
        #expect(replies[0]?.json?["appended"] as? Int == 0)
        #expect(replies[0]?.json?["duplicates"] as? Int == 2)
        #expect(replies[1]?.status == 409, "\(replies[1]?.text ?? "")")
        for i in 2..<24 {
            #expect(replies[i]?.status == 200, "\(replies[i]?.text ?? "")")
            #expect(replies[i]?.json?["appended"] as? Int == 2)
        }
        // 2 events of the first request + 2 each from clients 2–23; nothing of client 1.
        #expect(try server.position() == 2 + 22 * 2)
        #expect(try server.ledger.kpis(delivery: "d1", semantics: .efs)?.delivered == 23)
        await server.stop()
    }
}

/// The credentials file format and the constant-time comparison's answers.
@Suite struct CredentialsTests {
    @Test func parsesPairsAndRefusesBadLines() throws {
        let c = try Credentials(text: "# comment\r\nalice:pa:ss\r\n\nbob:x\n", source: "f")
        #expect(c.count == 2)
        #expect(c.accepts(pair: Array("alice:pa:ss".utf8)))
        #expect(c.accepts(pair: Array("bob:x".utf8)))
        #expect(!c.accepts(pair: Array("bob:y".utf8)))
        #expect(!c.accepts(pair: Array("alice:pa".utf8)))
        #expect(c.accepts(authorization: "basic " + Data("bob:x".utf8).base64EncodedString()))
        #expect(!c.accepts(authorization: nil))
        #expect(throws: CredentialsError.self) { try Credentials(text: "alice\n", source: "f") }
        #expect(throws: CredentialsError.self) { try Credentials(text: ":pw\n", source: "f") }
        #expect(throws: CredentialsError.self) { try Credentials(text: "alice:\n", source: "f") }
        #expect(throws: CredentialsError.self) { try Credentials(text: "# only a comment\n", source: "f") }
        do {
            _ = try Credentials(text: "ok:1\nbroken\n", source: "creds.txt")
        } catch {
            #expect(error.description == "creds.txt:2: expected user:password")
        }
    }

    @Test func listenAddresses() {
        #expect(ServerConfiguration.parseListen("127.0.0.1:8025")?.host == "127.0.0.1")
        #expect(ServerConfiguration.parseListen("127.0.0.1:8025")?.port == 8025)
        #expect(ServerConfiguration.parseListen("[::1]:9000")?.host == "::1")
        #expect(ServerConfiguration.parseListen("[::1]:9000")?.port == 9000)
        #expect(ServerConfiguration.parseListen("::1:9000") == nil)
        #expect(ServerConfiguration.parseListen("localhost") == nil)
        #expect(ServerConfiguration.parseListen("host:70000") == nil)
    }
}
