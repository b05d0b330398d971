import DeliveryLedger
import Foundation
import LedgerCLI
import LedgerServer
import LedgerTestSupport
import Testing

/// The JSON API answers the documents of the CLI, and every answer conforms to `Schemas/openapi.json`.
@Suite struct APITests {
    /// A demo ledger (1,000 recipients, seed 7), served.
    static func demoServer() async throws -> RunningServer {
        try await RunningServer { path in
            let r = LedgerCLI.run(["demo", "--db", path, "--recipients", "1000", "--seed", "7"])
            if r.exitCode != 0 { throw CLIFailure(message: r.error) }
        }
    }

    struct CLIFailure: Error { var message: String }

    /// `GET /api/deliveries` with each option is byte for byte `ledger project --format json` with the
    /// same options, on the same ledger.
    @Test func deliveriesIsTheProjectDocument() async throws {
        let server = try await Self.demoServer()
        let copy = try server.copy()
        let delivery = try #require(try server.ledger.deliveries().first)
        let asOf = "2026-11-02T12:00:00Z"
        let cases: [(query: String, cli: [String])] = [
            ("", []),
            ("?semantics=both", ["--both"]),
            ("?semantics=efs", ["--efs"]),
            ("?semantics=classic&delivery=\(delivery)", ["--classic", "--delivery", delivery]),
            ("?semantics=both&asOf=\(asOf)", ["--both", "--as-of", asOf]),
        ]
        for c in cases {
            let reply = try await server.send("GET", "/api/deliveries" + c.query)
            #expect(reply.status == 200, "\(c.query): \(reply.text)")
            let cli = LedgerCLI.run(["project", "--db", copy, "--format", "json"] + c.cli)
            #expect(cli.exitCode == 0, "\(cli.error)")
            #expect(reply.text == cli.output, "\(c.query)")
        }
        let unknown = try await server.send("GET", "/api/deliveries?delivery=nope")
        #expect(unknown.status == 404)
        let bad = try await server.send("GET", "/api/deliveries?semantics=neither")
        #expect(bad.status == 400)
        #expect(bad.json?["error"] as? String == "query parameter semantics: 'neither' is not one of efs, classic, both")
        // A name given twice, or bytes that are not percent-encoded UTF-8, are refused (the first was
        // taken silently; the raw text was passed on — found by a tester).
        let twice = try await server.send("GET", "/api/deliveries?asOf=2026-11-02T10:00:00Z&asOf=2026-11-03T10:00:00Z")
        #expect(twice.status == 400 && twice.json?["error"] as? String == "query parameter asOf: given more than once", "\(twice.text)")
        let undecodable = try await server.send("GET", "/api/deliveries?delivery=%FF%FE")
        #expect(undecodable.status == 400 && (undecodable.json?["error"] as? String ?? "").contains("is not percent-encoded UTF-8"), "\(undecodable.text)")
        // An offset's '+' not percent-encoded reads as a space: the error says how to write it.
        let plus = try await server.send("GET", "/api/deliveries?asOf=2026-11-02T10:00:00+01:00")
        #expect(plus.status == 400 && (plus.json?["error"] as? String ?? "").contains("write the offset's '+' as %2B"), "\(plus.text)")
        #expect(try await server.send("GET", "/api/deliveries?asOf=2026-11-02T10:00:00%2B01:00").status == 200)
        await server.stop()
    }

    /// `GET /api/domains` is `ledger domains --format json` with the same delivery and instant; an
    /// unknown delivery is 404, an instant not RFC 3339 400.
    @Test func domainsIsTheDomainsDocument() async throws {
        let server = try await Self.demoServer()
        let copy = try server.copy()
        let delivery = try #require(try server.ledger.deliveries().first)
        for now in ["2026-11-01T12:00:00Z", "2026-11-20T00:00:00Z"] {
            let reply = try await server.send("GET", "/api/domains?delivery=\(delivery)&now=\(now)")
            #expect(reply.status == 200, "\(reply.text)")
            let cli = LedgerCLI.run(["domains", "--db", copy, "--delivery", delivery, "--now", now, "--format", "json"])
            #expect(cli.exitCode == 0, "\(cli.error)")
            #expect(reply.text == cli.output, "now \(now)")
        }
        #expect(try await server.send("GET", "/api/domains?delivery=nope").status == 404)
        let bad = try await server.send("GET", "/api/domains?delivery=\(delivery)&now=yesterday")
        #expect(bad.status == 400 && (bad.json?["error"] as? String ?? "").hasPrefix("query parameter now: 'yesterday'"), "\(bad.text)")
        #expect(try await server.send("GET", "/api/domains").status == 400)
        await server.stop()
    }

    /// `GET /api/audit` is `ledger audit --format json` with the same delivery, instant, late
    /// threshold and kinds (comma-separated in the query, `--kind` repeated on the command line).
    @Test func auditIsTheCLIDocument() async throws {
        let server = try await Self.demoServer()
        let copy = try server.copy()
        let delivery = try #require(try server.ledger.deliveries().first)
        let cases: [(query: String, cli: [String])] = [
            ("&now=2026-11-20T00:00:00Z", ["--now", "2026-11-20T00:00:00Z"]),
            ("&now=2026-11-20T00:00:00Z&lateAfter=3600&kind=afterFinalOutcome,recordedLate",
             ["--now", "2026-11-20T00:00:00Z", "--late-after", "3600", "--kind", "afterFinalOutcome", "--kind", "recordedLate"]),
        ]
        for c in cases {
            let reply = try await server.send("GET", "/api/audit?delivery=\(delivery)" + c.query)
            #expect(reply.status == 200, "\(c.query): \(reply.text)")
            let cli = LedgerCLI.run(["audit", "--db", copy, "--delivery", delivery, "--format", "json"] + c.cli)
            #expect(cli.exitCode == 0, "\(cli.error)")
            #expect(reply.text == cli.output, "\(c.query)")
        }
        #expect(try await server.send("GET", "/api/audit?delivery=nope").status == 404)
        let bad = try await server.send("GET", "/api/audit?delivery=\(delivery)&kind=late")
        #expect(bad.status == 400 && (bad.json?["error"] as? String ?? "").contains("recordedLate"), "\(bad.text)")
        await server.stop()
    }

    /// A relabelled delivery: the API, the deliveries page and the delivery page name the label of
    /// the declaration in force at the picker's bounds (they showed the latest one whatever asOf).
    @Test func labelsFollowTheBounds() async throws {
        let server = try await RunningServer()
        _ = try server.ledger.append([
            Event(id: "decl-1", kind: .delivery, delivery: "d1", occurredAt: Instant(rfc3339: "2026-11-01T09:00:00Z")!, toDeliver: 1, label: "First"),
            Event(id: "r-1", kind: .relay, delivery: "d1", recipient: "ann@example.com", occurredAt: Instant(rfc3339: "2026-11-01T09:05:00Z")!),
            Event(id: "decl-2", kind: .delivery, delivery: "d1", occurredAt: Instant(rfc3339: "2026-11-03T09:00:00Z")!, toDeliver: 1, label: "Second"),
        ])
        let asOf = "2026-11-02T00:00:00Z"
        let api = try await server.send("GET", "/api/deliveries?asOf=\(asOf)")
        #expect(api.text.contains(#""label" : "First""#), "\(api.text)")
        let list = try await server.send("GET", "/?asOf=\(asOf)")
        #expect(list.text.contains("<td>First</td>") && !list.text.contains("Second"), "\(list.text)")
        let page = try await server.send("GET", "/delivery?delivery=d1&asOf=\(asOf)")
        #expect(page.text.contains("Delivery d1 — First"), "\(page.text)")
        let now = try await server.send("GET", "/delivery?delivery=d1")
        #expect(now.text.contains("Delivery d1 — Second"))
        await server.stop()
    }

    /// The sending logs: pages partition the recipients; the status filter keeps exactly the
    /// recipients with that status (checked against `/api/status` of each); the search is a
    /// case-insensitive substring.
    @Test func sendingLogsPageFilterAndSearch() async throws {
        let server = try await Self.demoServer()
        let delivery = try #require(try server.ledger.deliveries().first)
        let all = try server.ledger.recipients(delivery: delivery)
        var seen: [String] = []
        for page in 1...3 {
            let r = try await server.send("GET", "/api/sending-logs?delivery=\(delivery)&pageSize=400&page=\(page)")
            #expect(r.status == 200, "\(r.text)")
            let rows = try #require(r.json?["recipients"] as? [[String: Any]])
            #expect(r.json?["total"] as? Int == all.count)
            seen += rows.compactMap { $0["recipient"] as? String }
        }
        #expect(seen == all)
        let failed = try await server.send("GET", "/api/sending-logs?delivery=\(delivery)&semantics=efs&status=failed&pageSize=1000")
        let failedRows = try #require(failed.json?["recipients"] as? [[String: Any]])
        let expected = try all.filter { try server.ledger.status(delivery: delivery, recipient: $0, includeEvents: false)?.efs.status == .failed }
        #expect(!expected.isEmpty)
        #expect(failedRows.compactMap { $0["recipient"] as? String } == expected)
        #expect(failed.json?["total"] as? Int == expected.count)
        let needle = String(try #require(all.first).prefix(6)).uppercased()
        let searched = try await server.send("GET", "/api/sending-logs?delivery=\(delivery)&search=\(needle)&pageSize=1000")
        let names = (searched.json?["recipients"] as? [[String: Any]] ?? []).compactMap { $0["recipient"] as? String }
        #expect(names == all.filter { $0.lowercased().contains(needle.lowercased()) })
        // As of an instant inside the delivery, the logs hold the recipients with an event by then
        // (found by a fresh user: the total counted every recipient and pages came back nearly empty).
        let times = try all.flatMap { try server.ledger.events(delivery: delivery, recipient: $0).map(\.event.occurredAt) }.sorted()
        let asOf = times[times.count / 3]
        let present = try all.filter { try server.ledger.status(delivery: delivery, recipient: $0, at: TimeBounds(asOf: asOf)) != nil }
        #expect(!present.isEmpty && present.count < all.count)
        var pages: [String] = []
        for page in 1...((present.count + 99) / 100) {
            let r = try await server.send("GET", "/api/sending-logs?delivery=\(delivery)&asOf=\(asOf.rfc3339)&pageSize=100&page=\(page)")
            #expect(r.json?["total"] as? Int == present.count, "\(r.text.prefix(300))")
            let rows = (r.json?["recipients"] as? [[String: Any]] ?? []).compactMap { $0["recipient"] as? String }
            #expect(rows.count == min(100, present.count - (page - 1) * 100))
            pages += rows
        }
        #expect(pages == present)
        await server.stop()
    }

    /// The delivery page's pager keeps the page size: following "next" from page 1 to the last page
    /// at pageSize=7 visits every recipient once, in order, and never lands past the last page
    /// (a tester's "next" from page 2 of 14 at pageSize=5 gave "page 3 of 2" at the default size).
    @Test func dashboardPagerKeepsThePageSize() async throws {
        let server = try await Self.demoServer()
        let delivery = try #require(try server.ledger.deliveries().first)
        let all = try server.ledger.recipients(delivery: delivery)
        let pages = (all.count + 6) / 7
        #expect(pages > 2)
        var path: String? = "/delivery?delivery=\(delivery)&pageSize=7"
        var seen: [String] = []
        var visited = 0
        while let p = path, visited <= pages {
            let page = try await server.send("GET", p)
            #expect(page.status == 200)
            visited += 1
            #expect(page.text.contains("page \(visited) of \(pages)</p>"), "\(p)")
            #expect(!page.text.contains("id=\"past-last\""), "\(p)")
            #expect(page.text.contains("name=\"pageSize\" value=\"7\""), "the filter form keeps the page size")
            seen += page.text.components(separatedBy: "<tr data-recipient=\"").dropFirst().map { String($0.prefix { $0 != "\"" }) }
            path = page.text.range(of: "id=\"next\" href=\"").map { r in
                String(page.text[r.upperBound...].prefix { $0 != "\"" }).replacingOccurrences(of: "&amp;", with: "&")
            }
        }
        #expect(visited == pages)
        func unescaped(_ s: String) -> String {
            s.replacingOccurrences(of: "&#39;", with: "'").replacingOccurrences(of: "&quot;", with: "\"")
                .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&amp;", with: "&")
        }
        #expect(seen.map(unescaped) == all, "\(seen.count) rows seen, \(all.count) recipients")
        await server.stop()
    }

    /// The deliveries list (`/`) is paged, most recently first recorded first: 250 deliveries (one
    /// per message, as a provider without a grouping field gives) at pageSize=100 are pages of 100,
    /// 100 and 50 that together list every delivery once, newest first; the search keeps the
    /// deliveries whose id or label contains it, case-insensitively (worked out: of d-0000…d-0249,
    /// only d-0010…d-0019 contain "d-001" → 10; the label "Spring sale" names d-0200).
    @Test func deliveriesListIsPagedAndSearchable() async throws {
        let server = try await RunningServer()
        let t = Instant(rfc3339: "2026-11-02T09:00:00Z")!
        let names = (0..<250).map { String(format: "d-%04d", $0) }
        _ = try server.ledger.append(names.enumerated().map { i, d in
            Event(id: "r\(i)", kind: .relay, delivery: d, recipient: "u\(i)@example.com", occurredAt: t)
        } + [Event(id: "decl", kind: .delivery, delivery: "d-0200", occurredAt: t, toDeliver: 1, label: "Spring sale")])
        func listed(_ text: String) -> [String] {
            text.components(separatedBy: "<tr data-delivery=\"").dropFirst().map { String($0.prefix { $0 != "\"" }) }
        }
        var seen: [String] = []
        var path: String? = "/"
        var visited = 0
        while let p = path, visited < 5 {
            let page = try await server.send("GET", p)
            #expect(page.status == 200)
            visited += 1
            #expect(page.text.contains("250 deliveries — page \(visited) of 3"), "\(p)")
            seen += listed(page.text)
            path = page.text.range(of: "id=\"next\" href=\"").map { r in
                String(page.text[r.upperBound...].prefix { $0 != "\"" }).replacingOccurrences(of: "&amp;", with: "&")
            }
        }
        #expect(visited == 3)
        #expect(seen == names.reversed())
        let searched = try await server.send("GET", "/?search=D-001")
        #expect(searched.text.contains("10 deliveries matching"), "\(searched.text)")
        #expect(Set(listed(searched.text)) == Set(names.filter { $0.contains("d-001") }))
        let byLabel = try await server.send("GET", "/?search=spring")
        #expect(listed(byLabel.text) == ["d-0200"], "\(byLabel.text)")
        let past = try await server.send("GET", "/?page=9")
        #expect(past.status == 200 && past.text.contains("id=\"past-last\"") && listed(past.text).isEmpty)
        #expect(try await server.send("GET", "/?pageSize=0").status == 400)
        await server.stop()
    }

    /// Every answer of every endpoint — successes and refusals — validates against
    /// `Schemas/openapi.json`; the served document is that file; its embedded schemas are the files
    /// under `Schemas/`.
    @Test func answersConformToTheOpenAPIDocument() async throws {
        let server = try await Self.demoServer()
        let delivery = try #require(try server.ledger.deliveries().first)
        let recipient = try #require(try server.ledger.recipients(delivery: delivery).first)
        let failed = try #require(try server.ledger.recipients(delivery: delivery).first {
            try server.ledger.status(delivery: delivery, recipient: $0, includeEvents: false)?.classic.status == .failed
        })
        let batch = try Fixtures.corpus("sparkpost/anymail/bounce_event.json")
        var answers: [OpenAPIValidation.Answer] = []
        func record(_ method: String, _ template: String, _ query: String = "", headers: [(String, String)] = [], body: [UInt8]? = nil) async throws {
            let r = try await server.send(method, template + query, headers: headers, body: body)
            answers.append(.init(path: template, method: method, status: r.status, contentType: r.headers["content-type"] ?? "", body: r.text))
        }
        let enc = { (s: String) in s.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? s }
        try await record("GET", "/api/deliveries")
        try await record("GET", "/api/deliveries", "?semantics=both&asOf=2026-11-02T12:00:00Z&knownAt=2030-01-01T00:00:00Z")
        try await record("GET", "/api/deliveries", "?asOf=yesterday")
        try await record("GET", "/api/deliveries", "?delivery=none")
        try await record("GET", "/api/status", "?recipient=\(enc(recipient))")
        try await record("GET", "/api/status", "?recipient=\(enc(failed))&delivery=\(delivery)")
        try await record("GET", "/api/status", "?recipient=nobody%40example.com")
        try await record("GET", "/api/status")
        try await record("GET", "/api/address", "?address=\(enc(failed))")
        try await record("GET", "/api/address", "?address=not-an-address")
        try await record("GET", "/api/quarantine")
        try await record("GET", "/api/timeline", "?delivery=\(delivery)&bucket=6h")
        try await record("GET", "/api/timeline", "?delivery=\(delivery)&bucket=6y")
        try await record("GET", "/api/sending-logs", "?delivery=\(delivery)&status=failed&pageSize=5")
        try await record("GET", "/api/sending-logs", "?delivery=\(delivery)&pageSize=0")
        try await record("GET", "/api/audit", "?delivery=\(delivery)&now=2026-11-20T00:00:00Z&kind=afterFinalOutcome,duplicateReceived")
        try await record("GET", "/api/audit", "?delivery=\(delivery)&kind=late")
        try await record("GET", "/api/audit", "?delivery=none")
        try await record("GET", "/api/domains", "?delivery=\(delivery)&now=2026-11-20T00:00:00Z")
        try await record("GET", "/api/domains", "?delivery=none")
        try await record("GET", "/api/domains", "?delivery=\(delivery)&now=yesterday")
        try await record("POST", "/webhooks/sparkpost", headers: [RunningServer.auth], body: batch)
        try await record("POST", "/webhooks/sparkpost", headers: [RunningServer.auth], body: batch)
        try await record("POST", "/webhooks/sparkpost", body: batch)
        try await record("POST", "/webhooks/sparkpost", headers: [RunningServer.auth], body: Array("[{".utf8))
        try await record("POST", "/events", headers: [RunningServer.auth], body: Array("{\"kind\":1}\n".utf8))
        try await record("POST", "/webhooks/sparkpost", headers: [RunningServer.auth, ("Content-Encoding", "gzip")], body: batch)
        try await record("GET", "/delivery/chart.svg", "?delivery=\(delivery)")
        try await record("GET", "/healthz")
        try await record("GET", "/readyz")
        try await record("GET", "/metrics")
        try await record("GET", "/openapi.json")
        #expect(answers.allSatisfy { $0.status != 500 })
        let errors = try OpenAPIValidation.errors(answers)
        #expect(errors.isEmpty, "\(errors)")

        let served = try await server.send("GET", "/openapi.json")
        let file = try Data(contentsOf: SchemaValidation.schemasDirectory.appendingPathComponent("openapi.json"))
        #expect(served.body == Array(file))
        let doc = try #require(try JSONSerialization.jsonObject(with: file) as? [String: Any])
        let components = try #require((doc["components"] as? [String: Any])?["schemas"] as? [String: Any])
        for (name, schema) in [("Project", "project"), ("Status", "status"), ("Audit", "audit"), ("Domains", "domains")] {
            var text = String(decoding: try Data(contentsOf: SchemaValidation.schemaURL(named: schema)), as: UTF8.self)
            text = text.replacingOccurrences(of: "\"#/$defs/", with: "\"#/components/schemas/\(name)/$defs/")
            var expected = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
            expected["$id"] = nil
            expected["$schema"] = nil
            let embedded = try #require(components[name] as? [String: Any])
            let canonical = { (o: [String: Any]) in try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]) }
            #expect(try canonical(embedded) == canonical(expected), "components.schemas.\(name) differs from Schemas/\(schema).schema.json: run Tools/update-openapi")
        }
        await server.stop()
    }
}
