import Foundation
import LedgerTestSupport
import Testing

/// `ledger audit`: the text output's cap per kind (`--limit`), every finding in `--format json`
/// (`Schemas/audit.schema.json`), `--kind`.
@Suite struct AuditCLITests {
    /// A delivery with a known set of anomalies (the rules of `Ledger.audit`): a bounce after a
    /// delivered (afterFinalOutcome) for three recipients, a delivered with no relay (outcomeWithoutRelay),
    /// and one event sent twice (duplicateReceived, its receipt names the recorded event's position).
    /// Every event is recorded long after it occurred: the tests pass `--late-after` beyond that (one
    /// test counts the late records on their own).
    func ledger() -> CLI {
        let cli = CLI()
        var lines = [#"{"id":"decl","kind":"delivery","delivery":"d1","occurredAt":"2026-11-02T08:00:00Z","toDeliver":4,"validitySeconds":86400}"#]
        for (i, r) in ["a", "b", "c"].enumerated() {
            lines.append(#"{"id":"r-\#(r)","kind":"relay","delivery":"d1","recipient":"\#(r)@example.com","occurredAt":"2026-11-02T09:0\#(i):00Z"}"#)
            lines.append(#"{"id":"v-\#(r)","kind":"delivered","delivery":"d1","recipient":"\#(r)@example.com","occurredAt":"2026-11-02T09:1\#(i):00Z"}"#)
            lines.append(#"{"id":"b-\#(r)","kind":"bounce","delivery":"d1","recipient":"\#(r)@example.com","occurredAt":"2026-11-02T10:0\#(i):00Z","final":true,"inBand":false,"smtpCode":550,"enhancedStatus":"5.1.1","response":"550 5.1.1 user unknown"}"#)
        }
        lines.append(#"{"id":"v-d","kind":"delivered","delivery":"d1","recipient":"d@example.com","occurredAt":"2026-11-02T09:30:00Z"}"#)
        #expect(cli.ingest(lines).exitCode == 0)
        let again = cli.ingest([lines[1]], file: "again.jsonl")  // r-a again: a no-op with a receipt
        #expect(again.exitCode == 0, "\(again.error)")
        return cli
    }

    @Test func jsonListsEveryFindingAndMatchesItsSchema() throws {
        let cli = ledger()
        let r = cli.run("audit", "--delivery", "d1", "--now", "2026-11-02T12:00:00Z", "--late-after", "1000000000", "--format", "json", "--limit", "1")
        #expect(r.exitCode == 0, "\(r.error)")
        #expect(try SchemaValidation.validate(instance: Data(r.output.utf8), schemaNamed: "audit") == [])
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [String: Any])
        #expect(doc["delivery"] as? String == "d1")
        #expect(doc["now"] as? String == "2026-11-02T12:00:00.000Z")
        let counts = try #require(doc["counts"] as? [String: Int])
        #expect(counts == ["afterFinalOutcome": 3, "outcomeWithoutRelay": 1, "noFeedbackPastValidity": 0,
                           "recordedLate": 0, "duplicateReceived": 1, "duplicateOutcome": 0])
        let findings = try #require(doc["findings"] as? [[String: Any]])
        #expect(findings.count == 5, "--limit does not cap the JSON")
        let after = findings.filter { $0["kind"] as? String == "afterFinalOutcome" }.compactMap { $0["recipient"] as? String }
        #expect(after == ["a@example.com", "b@example.com", "c@example.com"])
        // The receipt names the recorded relay of a: position 2 (the declaration is 1).
        let dup = try #require(findings.first { $0["kind"] as? String == "duplicateReceived" })
        #expect(dup["recipient"] as? String == "a@example.com" && dup["position"] as? Int == 2)
    }

    @Test func textCapsEachKindAtTheLimitAndKindFilters() throws {
        let cli = ledger()
        let capped = cli.run("audit", "--delivery", "d1", "--now", "2026-11-02T12:00:00Z", "--late-after", "1000000000", "--limit", "2")
        #expect(capped.exitCode == 0, "\(capped.error)")
        #expect(capped.output.contains("afterFinalOutcome (3):"))
        #expect(capped.output.contains("  … and 1 more"))
        #expect(!capped.output.contains("c@example.com: bounce"), "\(capped.output)")
        let all = cli.run("audit", "--delivery", "d1", "--now", "2026-11-02T12:00:00Z", "--late-after", "1000000000", "--limit", "0")
        #expect(all.output.contains("c@example.com: bounce") && !all.output.contains("more"), "\(all.output)")
        let one = cli.run("audit", "--delivery", "d1", "--now", "2026-11-02T12:00:00Z", "--late-after", "1000000000", "--kind", "outcomeWithoutRelay", "--format", "json")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(one.output.utf8)) as? [String: Any])
        let findings = try #require(doc["findings"] as? [[String: Any]])
        #expect(findings.map { $0["recipient"] as? String } == ["d@example.com"])
        // The counts stay every kind's; the document names the kinds listed.
        #expect((doc["counts"] as? [String: Int])?["duplicateReceived"] == 1 && (doc["counts"] as? [String: Int])?["afterFinalOutcome"] == 3)
        #expect(doc["kinds"] as? [String] == ["outcomeWithoutRelay"])
        #expect(try SchemaValidation.validate(instance: Data(one.output.utf8), schemaNamed: "audit") == [])
        // With the default --late-after (1 day), the 10 message events, recorded in 2026-12 for
        // November, are late; the declaration is the delivery's, not a message's.
        let late = cli.run("audit", "--delivery", "d1", "--now", "2026-11-02T12:00:00Z", "--kind", "recordedLate", "--format", "json")
        let lateDoc = try #require(try JSONSerialization.jsonObject(with: Data(late.output.utf8)) as? [String: Any])
        #expect((lateDoc["findings"] as? [Any])?.count == 10)
        // A comma-separated list (as the API's kind=a,b); no finding of the kinds asked is said.
        let listed = cli.run("audit", "--delivery", "d1", "--now", "2026-11-02T12:00:00Z", "--late-after", "1000000000",
                             "--kind", "outcomeWithoutRelay,duplicateReceived", "--format", "json")
        let listedDoc = try #require(try JSONSerialization.jsonObject(with: Data(listed.output.utf8)) as? [String: Any])
        #expect(listedDoc["kinds"] as? [String] == ["outcomeWithoutRelay", "duplicateReceived"])
        let none = cli.run("audit", "--delivery", "d1", "--now", "2026-11-02T12:00:00Z", "--late-after", "1000000000", "--kind", "duplicateOutcome")
        #expect(none.output.contains("No finding of the kind asked (duplicateOutcome)."), "\(none.output)")
        #expect(cli.run("audit", "--delivery", "d1", "--kind", "").exitCode != 0)
        #expect(cli.run("audit", "--delivery", "d1", "--kind", ",").error.contains("names no kind"))
        let bad = cli.run("audit", "--delivery", "d1", "--kind", "late")
        #expect(bad.exitCode != 0 && bad.error.contains("recordedLate"), "\(bad.error)")
    }
}
