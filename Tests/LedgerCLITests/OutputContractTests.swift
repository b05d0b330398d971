import Foundation
import LedgerTestSupport
import Testing

/// The JSON outputs are public contracts: real outputs validate against `Schemas/`.
@Suite struct OutputContractTests {
    func ledgerWithCorpus() throws -> CLI {
        let cli = CLI()
        let folder = try Corpus.folder().appendingPathComponent("sparkpost")
        let r = cli.run("ingest", folder.appendingPathComponent("java-sparkpost/webhook-batch-captured-2017.json").path,
                        folder.appendingPathComponent("anymail/delay_event.json").path,
                        folder.appendingPathComponent("anymail/generation_rejection_event.json").path,
                        cli.file("declare.jsonl", #"{"id":"d","kind":"delivery","delivery":"test","occurredAt":"2017-05-30T00:00:00Z","toDeliver":5,"label":"Test"}"#))
        #expect(r.exitCode == 0, "\(r.error)")
        return cli
    }

    @Test(arguments: [[], ["--both"], ["--efs"], ["--classic", "--delivery", "test"]])
    func projectJSONMatchesItsSchema(_ extra: [String]) throws {
        let cli = try ledgerWithCorpus()
        let r = cli.run(["project", "--format", "json"] + extra)
        #expect(r.exitCode == 0, "\(r.error)")
        #expect(try SchemaValidation.validate(instance: Data(r.output.utf8), schemaNamed: "project") == [])
    }

    /// Each delivery's label is its declaration's (`"label":"Test"` for `test`), `null` for a delivery
    /// never declared (the SparkPost batches' campaigns).
    @Test func projectJSONCarriesTheDeclaredLabel() throws {
        let cli = try ledgerWithCorpus()
        let r = cli.run("project", "--format", "json", "--both")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [String: Any])
        let rows = try #require(doc["deliveries"] as? [[String: Any]])
        #expect(rows.count >= 4)
        for row in rows {
            if row["delivery"] as? String == "test" {
                #expect(row["label"] as? String == "Test")
            } else {
                #expect(row["label"] is NSNull, "\(row["delivery"] ?? "?")")
            }
        }
    }

    /// `status --format json` lists the events in projection order (valid time, then log position),
    /// as the table does — not in log order (found by a new user).
    @Test func statusJSONEventsAreInProjectionOrder() throws {
        let cli = CLI()
        #expect(cli.ingest([
            #"{"id":"v","kind":"delivered","delivery":"d1","recipient":"a@example.com","occurredAt":"2026-11-02T09:10:00Z"}"#,
            #"{"id":"r","kind":"relay","delivery":"d1","recipient":"a@example.com","occurredAt":"2026-11-02T09:00:00Z"}"#,
        ]).exitCode == 0)
        let r = cli.run("status", "a@example.com", "--format", "json")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [String: Any])
        #expect((doc["events"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == ["r", "v"], "\(r.output)")
    }

    /// An MTA's reply is outside text: its C0 control characters (an ESC that starts a terminal
    /// escape sequence, a BEL) are shown as visible pictures in the text output, never written raw
    /// to the reader's terminal; the JSON keeps the exact text, escaped.
    @Test func textOutputShowsControlCharactersVisibly() throws {
        let cli = CLI()
        let r = cli.ingest([#"{"id":"b1","kind":"bounce","delivery":"d1","recipient":"a@example.com","occurredAt":"2026-11-02T09:00:00Z","final":true,"smtpCode":550,"response":"550 \u001b]0;owned\u0007\u001b[2J user unknown"}"#])
        #expect(r.exitCode == 0, "\(r.error)")
        for command in [["history", "a@example.com"], ["status", "a@example.com"], ["address", "a@example.com"]] {
            let out = cli.run(command)
            #expect(out.exitCode == 0, "\(out.error)")
            #expect(!out.output.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" && $0 != "\t" }, "\(command)")
            if command[0] != "address" { #expect(out.output.contains("550 \u{241B}]0;owned\u{2407}\u{241B}[2J user unknown"), "\(out.output)") }
        }
        let json = cli.run("status", "a@example.com", "--format", "json")
        #expect(json.output.contains(#"550 \u001b]0;owned\u0007\u001b[2J user unknown"#), "\(json.output)")
    }

    @Test func projectJSONOfAnEmptyLedgerMatchesItsSchema() throws {
        let cli = CLI()
        #expect(cli.run("ingest", "--allow-empty", cli.file("empty.jsonl", "")).exitCode == 0)  // creates an empty ledger
        let r = cli.run("project", "--format", "json")
        #expect(try SchemaValidation.validate(instance: Data(r.output.utf8), schemaNamed: "project") == [])
    }

    @Test func statusJSONLinesMatchTheirSchema() throws {
        let cli = try ledgerWithCorpus()
        var lines = ""
        for address in ["test@example.com", "as78df9as9d0f8as90df8a9s0df890asdf890asdf@example.com",
                        "recipient@nomx.example.com", "suppressed@example.com"] {
            let r = cli.run("status", address, "--format", "json")
            #expect(r.exitCode == 0, "\(r.error)")
            #expect(r.output.split(separator: "\n").count == 1)
            lines += r.output
        }
        #expect(try SchemaValidation.validate(jsonLines: Array(lines.utf8), schemaNamed: "status") == [])
    }

    /// `history --format json`: one line per delivery, valid against `Schemas/history.schema.json`,
    /// each step the status after folding its event (domain.md §3), with `status --format json`'s names
    /// and values for the same event.
    @Test func historyJSONLinesMatchTheirSchemaAndStatusNames() throws {
        let cli = CLI()
        let r = cli.ingest([
            #"{"id":"r-1","kind":"relay","delivery":"d1","recipient":"bob@example.com","occurredAt":"2026-11-02T09:00:00Z"}"#,
            #"{"id":"t-1","kind":"retry","delivery":"d1","recipient":"bob@example.com","occurredAt":"2026-11-02T09:05:00Z","smtpCode":452,"enhancedStatus":"4.2.2","response":"452 4.2.2 mailbox full"}"#,
            #"{"id":"v-1","kind":"delivered","delivery":"d1","recipient":"bob@example.com","occurredAt":"2026-11-02T10:00:00Z"}"#,
            #"{"id":"b-1","kind":"bounce","delivery":"d1","recipient":"bob@example.com","occurredAt":"2026-11-02T11:00:00Z","inBand":false,"smtpCode":550,"enhancedStatus":"5.1.1","response":"550 5.1.1 user unknown"}"#,
            #"{"id":"r-2","kind":"relay","delivery":"d2","recipient":"bob@example.com","occurredAt":"2026-11-03T09:00:00Z"}"#,
        ])
        #expect(r.exitCode == 0, "\(r.error)")
        let h = cli.run("history", "bob@example.com", "--format", "json")
        #expect(h.exitCode == 0, "\(h.error)")
        #expect(try SchemaValidation.validate(jsonLines: Array(h.output.utf8), schemaNamed: "history") == [])
        let lines = h.output.split(separator: "\n")
        #expect(lines.count == 2)
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(doc["delivery"] as? String == "d1")
        #expect(doc["recipient"] as? String == "bob@example.com")
        let steps = try #require(doc["history"] as? [[String: Any]])
        func view(_ step: [String: Any], _ semantics: String) -> [String] {
            let v = step[semantics] as? [String: Any] ?? [:]
            return [v["status"] as? String ?? "-", v["failureReason"] as? String ?? "-", (v["retrying"] as? Bool).map(String.init) ?? "-"]
        }
        // relay → Sent / Taken into account; retry (4.2.2) → the same, retrying, Mailbox full; delivered →
        // Sent under both; async hard bounce after delivery → Failed, User unknown, under both.
        #expect(steps.map { view($0, "classic") } == [["sent", "-", "false"], ["sent", "mailboxFull", "true"], ["sent", "-", "false"], ["failed", "userUnknown", "false"]])
        #expect(steps.map { view($0, "efs") } == [["takenIntoAccount", "-", "false"], ["takenIntoAccount", "mailboxFull", "true"], ["sent", "-", "false"], ["failed", "userUnknown", "false"]])
        #expect(steps.map { ($0["event"] as? [String: Any])?["id"] as? String } == ["r-1", "t-1", "v-1", "b-1"])
        // The same names and values as status --format json: its events, its final views, its basis.
        let s = cli.run("status", "bob@example.com", "--delivery", "d1", "--format", "json")
        let status = try #require(try JSONSerialization.jsonObject(with: Data(s.output.utf8)) as? [String: Any])
        func json(_ value: Any?) throws -> String {
            String(decoding: try JSONSerialization.data(withJSONObject: try #require(value), options: [.sortedKeys]), as: UTF8.self)
        }
        #expect(try steps.map { try json($0["event"]) } == (try #require(status["events"] as? [Any])).map { try json($0) })
        #expect(try json(steps.last?["classic"]) == json(status["classic"]))
        #expect(try json(steps.last?["efs"]) == json(status["efs"]))
        #expect(try json(doc["basis"]) == json(status["basis"]))
        #expect(cli.run("history", "bob@example.com", "--format", "xml").error.contains("--format must be table or json"))
    }

    @Test func csvHasTheJSONFieldNames() throws {
        let cli = try ledgerWithCorpus()
        let r = cli.run("project", "--both", "--format", "csv", "--delivery", "test")
        let rows = r.output.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        #expect(rows.count == 3)
        let header = rows[0]
        for row in rows.dropFirst() {
            let record = Dictionary(uniqueKeysWithValues: zip(header, row))
            #expect(record["delivery"] == "test")
            #expect(record["toDeliver"] == "5")
            #expect(record["failedByReason.userUnknown"] == "1")
            // 5 declared, 2 messages seen: one Sent, one failed, 3 never seen → pending.
            #expect(record["pending"] == "3")
            #expect(record["successRate"] == "0.2")
        }
    }
}
