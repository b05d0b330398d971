import DeliveryLedger
import Foundation
import LedgerTestSupport
import Testing

/// Re-projection never changes an answer it should not (issue "Time in the ledger" §4): the same
/// log gives byte-identical `project --format json` whatever was projected in between.
@Suite struct ReprojectionCLITests {
    /// A small delivery with every kind of outcome, ingested through the CLI.
    static func ingestSample(_ cli: CLI) {
        let lines = [
            #"{"id":"d","kind":"delivery","delivery":"d1","occurredAt":"2026-11-02T08:00:00Z","toDeliver":5}"#,
            #"{"id":"r1","kind":"relay","delivery":"d1","recipient":"a@example.com","occurredAt":"2026-11-02T09:00:00Z"}"#,
            #"{"id":"r2","kind":"relay","delivery":"d1","recipient":"b@example.com","occurredAt":"2026-11-02T09:00:00Z"}"#,
            #"{"id":"r3","kind":"relay","delivery":"d1","recipient":"c@example.com","occurredAt":"2026-11-02T09:00:00Z"}"#,
            #"{"id":"x1","kind":"delivered","delivery":"d1","recipient":"a@example.com","occurredAt":"2026-11-02T09:01:00Z"}"#,
            #"{"id":"x2","kind":"bounce","delivery":"d1","recipient":"b@example.com","occurredAt":"2026-11-02T09:02:00Z","final":true,"smtpCode":550,"response":"550 5.1.1 user unknown","failureType":"hard","failureReason":"userUnknown","bounceClass":10}"#,
            #"{"id":"x3","kind":"retry","delivery":"d1","recipient":"c@example.com","occurredAt":"2026-11-02T09:03:00Z","smtpCode":452,"response":"452 4.2.2 mailbox full","failureType":"soft","failureReason":"mailboxFull","bounceClass":40}"#,
        ]
        #expect(cli.ingest(lines, file: "sample.jsonl").exitCode == 0)
    }

    /// The bytes of `project --format json` (extra arguments appended).
    static func project(_ cli: CLI, _ extra: String...) -> String {
        let r = cli.run(["project", "--format", "json"] + extra)
        #expect(r.exitCode == 0, "\(r.error)")
        return r.output
    }

    /// Forcing EFS and back re-projects the same events: the output is byte-identical to before.
    @Test func forcingEFSAndBackIsByteIdentical() throws {
        let cli = CLI()
        Self.ingestSample(cli)
        let before = Self.project(cli)
        let efs = Self.project(cli, "--efs")
        #expect(efs != before)
        #expect(efs.contains(#""takenIntoAccount" : 1"#), "\(efs)")
        #expect(Self.project(cli, "--classic") == before)
        #expect(Self.project(cli) == before)
    }

    /// Toggling the EFS flag on and back off appends two efsFlag events and rewrites nothing: the
    /// KPIs are byte-identical to before; the basis moves by exactly the two flag events.
    @Test func togglingTheEFSFlagAndBackChangesOnlyTheBasisPosition() throws {
        let cli = CLI()
        Self.ingestSample(cli)
        let before = Self.project(cli)
        #expect(cli.run("efs", "enable").exitCode == 0)
        #expect(Self.project(cli).contains(#""semantics" : "efs""#))
        #expect(cli.run("efs", "disable").exitCode == 0)
        let after = Self.project(cli)
        func split(_ s: String) throws -> (basis: [String: Any], rest: Substring) {
            let cut = try #require(s.range(of: #""deliveries" :"#))
            let doc = try #require(try JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String: Any])
            return (try #require(doc["basis"] as? [String: Any]), s[cut.lowerBound...])
        }
        let (b0, k0) = try split(before), (b1, k1) = try split(after)
        #expect(k0 == k1, "the KPIs' bytes differ")
        #expect(b1["position"] as? Int == (b0["position"] as? Int).map { $0 + 2 })
        #expect(b0["rules"] as? String == b1["rules"] as? String)
    }

    /// Another rule table re-projects into a new generation; back to the built-in table, the output
    /// is byte-identical to before, basis included (the log did not change). `reproject` rebuilds
    /// from the log and changes nothing either.
    @Test func anotherRuleTableAndBackIsByteIdentical() throws {
        let cli = CLI()
        Self.ingestSample(cli)
        let line = #"{"id":"p1","kind":"bounce","delivery":"d1","recipient":"e@example.com","occurredAt":"2026-11-02T09:05:00Z","final":true,"smtpCode":550,"response":"550 the walrus says no","failureType":"notDefined","failureReason":"notDefined","qualifier":"rules-2026.11-1#permanent-reply"}"#
        #expect(cli.run("ingest", cli.file("p.jsonl", line)).exitCode == 0)
        let before = Self.project(cli)
        let rules = cli.file("rules.json", #"{"version":"local-1","rules":[{"id":"walrus","text":"walrus","failureType":"soft","failureReason":"accountDisabled","source":"test"}]}"#)
        // A read command never re-projects: with a table the projection was not built with, it says
        // to run `reproject`, which needs write access.
        let refused = cli.run("project", "--format", "json", "--rules", rules)
        #expect(refused.exitCode != 0 && refused.error.contains("ledger reproject"), "\(refused.error)")
        #expect(cli.run("reproject", "--rules", rules).exitCode == 0)
        let other = Self.project(cli, "--rules", rules)
        #expect(other != before && other.contains(#""accountDisabled" : 1"#))
        let r = cli.run("reproject")
        #expect(r.exitCode == 0 && r.output.contains("8 events re-projected"), "\(r.output) \(r.error)")
        #expect(Self.project(cli) == before)
        #expect(cli.run("verify").exitCode == 0)
    }

    /// Runs `reproject` with `args`; the generation it reports ("Generation N (rules …): …").
    static func reproject(_ cli: CLI, _ args: [String]) throws -> Int {
        let r = cli.run(["reproject"] + args)
        #expect(r.exitCode == 0, "\(r.error)")
        let words = r.output.split(separator: " ")
        #expect(words.first == "Generation", "\(r.output)")
        return try #require(Int(words.dropFirst().first ?? ""))
    }

    /// `reproject --rules X` with a table the projection was not built with re-projects once (on
    /// open), not twice (found by a tester); with the table already in use it re-projects once too.
    @Test func reprojectWithAnotherRuleTableRebuildsOnce() throws {
        let cli = CLI()
        Self.ingestSample(cli)
        let rules = cli.file("rules.json", #"{"version":"local-1","rules":[{"id":"walrus","text":"walrus","failureType":"soft","failureReason":"accountDisabled","source":"test"}]}"#)
        func generation(_ args: String...) throws -> Int { try Self.reproject(cli, args) }
        let g = try generation()
        #expect(try generation("--rules", rules) == g + 1)
        #expect(try generation("--rules", rules) == g + 2)
        #expect(try generation() == g + 3)
    }

    /// A process that has the ledger open (a `ledger serve`, an embedding service) while another
    /// re-projects it with another rule table neither answers nor writes through the projection
    /// any more: it used to keep its own table, answer with it, and write it into the other table's
    /// projection at its next checkpoint (found by a tester: `verify` then failed). Its appends are
    /// refused (nothing written; a webhook sender retries), and a reopen with either table works.
    @Test func aReprojectionByAnotherProcessStopsAnInstanceOfTheOtherTable() throws {
        let cli = CLI()
        Self.ingestSample(cli)
        var options = LedgerOptions()
        options.durable = false
        let ledger = try Ledger(path: cli.db, options: options)
        #expect(try ledger.kpis(delivery: "d1", semantics: .classic) != nil)
        let rules = cli.file("rules.json", #"{"version":"local-1","rules":[{"id":"walrus","text":"walrus","failureType":"soft","failureReason":"accountDisabled","source":"test"}]}"#)
        let r = cli.run("reproject", "--rules", rules)
        #expect(r.exitCode == 0, "\(r.error)")
        func isRulesChanged(_ error: any Error) -> Bool {
            guard case let LedgerError.rulesChanged(_, persisted, own)? = error as? LedgerError else { return false }
            return persisted == "local-1" && own == RuleTable.builtIn.version
        }
        #expect(performing: { try ledger.kpis(delivery: "d1", semantics: .classic) }, throws: isRulesChanged)
        let relay = Event(id: "r9", kind: .relay, delivery: "d1", recipient: "z@example.com", occurredAt: Instant(rfc3339: "2026-11-02T10:00:00Z")!)
        #expect(performing: { try ledger.append([relay]) }, throws: isRulesChanged)
        #expect(performing: { try ledger.checkpoint() }, throws: isRulesChanged)
        // What `ledger serve`'s /readyz asks: not ready either (it said ready, found by a tester),
        // while the bare basis (the log alone) still answers.
        #expect(performing: { try ledger.readyBasis() }, throws: isRulesChanged)
        #expect(try ledger.basis().position == 7)
        // Nothing was appended, and the other table's projection is whole.
        let verify = cli.run("verify", "--rules", rules)
        #expect(verify.exitCode == 0 && verify.output.contains("Records: 7;"), "\(verify.output) \(verify.error)")
        let message = "\(LedgerError.rulesChanged(path: cli.db, persisted: "local-1", own: "rules-x"))"
        #expect(message.contains("re-projected by another process with rule table local-1") && message.contains("--rules FILE of local-1"))
    }

    /// The same on a ledger without events (found by a tester: it went up by two there).
    @Test func reprojectWithAnotherRuleTableRebuildsOnceOnAnEmptyLedger() throws {
        let cli = CLI()
        #expect(cli.run("ingest", "--allow-empty", cli.file("empty.jsonl", "")).exitCode == 0)
        let rules = cli.file("rules.json", #"{"version":"local-1","rules":[{"id":"walrus","text":"walrus","failureType":"soft","failureReason":"accountDisabled","source":"test"}]}"#)
        func generation(_ args: String...) throws -> Int { try Self.reproject(cli, args) }
        let g = try generation()
        #expect(try generation("--rules", rules) == g + 1)
        #expect(try generation() == g + 2)
    }
}

/// `project --format summary`: one line per delivery and semantics, with the table's counts.
@Test func projectSummaryIsOneLinePerDeliveryAndSemantics() throws {
    let cli = CLI()
    let feed = """
        {"id":"r1","kind":"relay","delivery":"d1","recipient":"a@example.com","occurredAt":"2026-11-02T09:00:00Z"}
        {"id":"v1","kind":"delivered","delivery":"d1","recipient":"a@example.com","occurredAt":"2026-11-02T09:01:00Z"}
        {"id":"r2","kind":"relay","delivery":"d1","recipient":"b@example.com","occurredAt":"2026-11-02T09:00:00Z"}
        {"id":"h2","kind":"bounce","delivery":"d1","recipient":"b@example.com","occurredAt":"2026-11-02T09:02:00Z","bounceClass":10}
        {"id":"r3","kind":"relay","delivery":"d2","recipient":"c@example.com","occurredAt":"2026-11-02T09:00:00Z"}
        """
    #expect(cli.run("ingest", cli.file("feed.jsonl", feed)).exitCode == 0)
    let r = cli.run("project", "--both", "--format", "summary")
    #expect(r.exitCode == 0, "\(r.error)")
    let lines = r.output.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
    // Basis, header, then d1 and d2 under both semantics. d1: a delivered, b hard-bounced (Sent 1,
    // Failed 1 of 2 under both); d2: c relayed only — Sent under classic, Taken into account under EFS.
    #expect(lines.count == 6, "\(r.output)")
    #expect(lines[1] == "Delivery Semantics To deliver Success Sent Taken into account Failed Pending")
    #expect(lines[2] == "d1 classic 2 50.0 % 1 0 1 0", "\(lines[2])")
    #expect(lines[3] == "d1 efs 2 50.0 % 1 0 1 0", "\(lines[3])")
    #expect(lines[4] == "d2 classic 1 100.0 % 1 0 0 0", "\(lines[4])")
    #expect(lines[5] == "d2 efs 1 0.0 % 0 1 0 0", "\(lines[5])")
}

/// README's chart is the demo's timeline, as committed: regenerate it with the command in README
/// ("Time in the ledger") when the demo or the chart changes.
@Suite struct ReadmeChartTests {
    @Test func theCommittedChartIsTheDemosTimeline() throws {
        let cli = CLI()
        let demo = cli.run("demo", "--db", cli.db)
        #expect(demo.exitCode == 0, "\(demo.error)")
        let svg = cli.run("timeline", "--delivery", "campaign-2026-11-1", "--bucket", "10m", "--format", "svg")
        #expect(svg.exitCode == 0, "\(svg.error)")
        let committed = try String(contentsOf: Corpus.packageRoot.appendingPathComponent("docs/demo-timeline.svg"), encoding: .utf8)
        #expect(svg.output == committed, "docs/demo-timeline.svg is not what the demo gives; regenerate it (README)")
    }

    /// The demo prints the span of its recording (what --known-at selects: README sends the reader to
    /// it), shows a Hard example for its hard-bounce scenario, and says how the messages left open
    /// are ended (`ledger sweep`) — three points a fresh user stumbled on.
    @Test func theDemoNamesItsRecordingSpanAHardExampleAndTheSweep() throws {
        let cli = CLI()
        let demo = cli.run("demo", "--db", cli.db, "--recipients", "2000")
        #expect(demo.exitCode == 0, "\(demo.error)")
        let span = try #require(demo.output.split(separator: "\n").first { $0.hasPrefix("Recorded (transaction time") }, "\(demo.output)")
        let words = span.split(separator: " ")
        let from = try #require(Instant(rfc3339: String(words[words.count - 3])))
        let until = try #require(Instant(rfc3339: String(words[words.count - 1].dropLast())))
        #expect(from <= until)
        let all = cli.run("project", "--format", "json", "--both").output
        #expect(!all.isEmpty)
        // Known at the span's end: everything; a second before its start: nothing yet.
        func withoutBasis(_ json: String) throws -> NSDictionary {
            let doc = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8), options: .mutableContainers) as? NSMutableDictionary)
            doc.removeObject(forKey: "basis")
            return doc
        }
        #expect(try withoutBasis(cli.run("project", "--format", "json", "--both", "--known-at", until.rfc3339).output) == (try withoutBasis(all)))
        #expect(cli.run("project", "--known-at", from.adding(seconds: -1).rfc3339).output.contains("No delivery was recorded yet"))
        let hardRow = try #require(demo.output.split(separator: "\n").first { $0.trimmingCharacters(in: .whitespaces).hasPrefix("hardBounce") }, "\(demo.output)")
        #expect(hardRow.contains("Failed (Hard,"), "\(hardRow)")
        #expect(demo.output.contains("`ledger sweep --db \(cli.db)`"), "\(demo.output)")

        // audit's first line counts each kind, the counts of the sections below and their total.
        let audit = cli.run("audit", "--delivery", "campaign-2026-11-1").output
        let first = try #require(audit.split(separator: "\n").first.map(String.init))
        let total = try #require(Int(first.split(separator: " ")[4]), "\(first)")
        let counts = try #require(first.split(separator: "(").last?.dropLast().split(separator: ", "), "\(first)")
        #expect(counts.count >= 2, "\(first)")  // recorded late, and at least one other kind
        var sum = 0
        for pair in counts {
            let parts = pair.split(separator: " ")
            let n = try #require(Int(parts[1]), "\(pair)")
            sum += n
            #expect(audit.contains("\n\(parts[0]) (\(n)):"), "\(pair)")
        }
        #expect(sum == total, "\(first)")
    }

    /// A second demo into the same --db is refused before anything is written (it failed with an id
    /// conflict, found by a fresh user), and the first demo's ledger is unchanged.
    @Test func aSecondDemoIntoAKeptLedgerIsRefused() throws {
        let cli = CLI()
        #expect(cli.run("demo", "--db", cli.db, "--recipients", "30").exitCode == 0)
        let before = cli.run("project", "--format", "json", "--both").output
        let again = cli.run("demo", "--db", cli.db, "--recipients", "40")
        #expect(again.exitCode != 0)
        #expect(again.error.contains("already holds a ledger"), "\(again.error)")
        #expect(cli.run("project", "--format", "json", "--both").output == before)
    }
}

@Suite struct TimeoutQualificationCLITests {
    /// A timeout with no text is soft, Unreachable — at ingest and in the projection, which
    /// re-qualifies text-qualified failures with the rule table (found by a tester: the projection
    /// had it Not defined).
    @Test func aTimeoutWithoutTextIsSoftUnreachableInTheProjection() throws {
        let cli = CLI()
        let lines = [
            #"{"id":"r","kind":"relay","delivery":"x","recipient":"z@example.com","occurredAt":"2026-11-02T09:00:00Z"}"#,
            #"{"id":"t","kind":"timeout","delivery":"x","recipient":"z@example.com","occurredAt":"2026-11-05T21:00:00Z"}"#,
        ]
        #expect(cli.ingest(lines, file: "t.jsonl").exitCode == 0)
        let status = cli.run("status", "z@example.com", "--format", "json")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(status.output.utf8)) as? [String: Any])
        for s in ["classic", "efs"] {
            let view = try #require(doc[s] as? [String: Any])
            #expect(view["status"] as? String == "failed")
            #expect(view["failureType"] as? String == "soft" && view["failureReason"] as? String == "unreachable", "\(view)")
        }
        let k = try cli.kpis("x", "classic")
        #expect((k["failedByType"] as? [String: Int])?["soft"] == 1 && (k["failedByReason"] as? [String: Int])?["unreachable"] == 1)
    }
}

@Suite struct EFSFlagKnownAtCLITests {
    /// `project --known-at K` uses the EFS flag as the ledger knew it at K: a change recorded after
    /// K does not count, even when dated before K (found by a tester).
    @Test func theFlagAsKnownAtTheKnownAtInstant() throws {
        let cli = CLI()
        #expect(cli.run("ingest", cli.file("r.jsonl", #"{"id":"r1","kind":"relay","delivery":"d1","recipient":"a@example.com","occurredAt":"2026-11-02T09:00:00Z"}"#)).exitCode == 0)
        #expect(cli.run("efs", "enable", "--at", "2000-01-01T00:00:00Z").exitCode == 0)
        usleep(20_000)
        let known = Ledger.systemClock().rfc3339
        usleep(20_000)
        #expect(cli.run("efs", "disable", "--at", "2001-01-01T00:00:00Z").exitCode == 0)
        func semantics(_ extra: String...) throws -> String? {
            let doc = try cli.projectJSON(extra)
            return ((doc["deliveries"] as? [[String: Any]])?.first?["semantics"]) as? String
        }
        #expect(try semantics() == "classic")
        #expect(try semantics("--known-at", known) == "efs")
        #expect(try semantics("--known-at", known, "--as-of", "2026-11-03T00:00:00Z") == "efs")
    }
}

@Suite struct RuleTableIdentityCLITests {
    /// Two rule tables with the same version but other rules: the second re-projects too (the
    /// projection records the table's digest, not only its version; found by a tester).
    @Test func aTableEditedWithoutANewVersionStillReprojects() throws {
        let cli = CLI()
        let line = #"{"id":"p1","kind":"bounce","delivery":"d1","recipient":"ann@example.com","occurredAt":"2026-11-02T09:00:00Z","final":true,"smtpCode":550,"response":"550 the walrus says no","failureType":"notDefined","failureReason":"notDefined","qualifier":"rules-2026.11-1#permanent-reply"}"#
        #expect(cli.run("ingest", cli.file("p.jsonl", line)).exitCode == 0)
        let a = cli.file("a.json", #"{"version":"local-1","rules":[{"id":"walrus","text":"walrus","failureType":"soft","failureReason":"accountDisabled","source":"test"}]}"#)
        let b = cli.file("b.json", #"{"version":"local-1","rules":[{"id":"walrus","text":"walrus","failureType":"soft","failureReason":"mailboxFull","source":"test"}]}"#)
        #expect(cli.run("reproject", "--rules", a).exitCode == 0)
        #expect(ReprojectionCLITests.project(cli, "--rules", a).contains(#""accountDisabled" : 1"#))
        // Same version, other rules: the read command refuses the projection built with `a`.
        let refused = cli.run("project", "--rules", b).error
        #expect(refused.contains("ledger reproject"))
        // …and says so, not "built with local-1, not the one asked for (local-1)" (found by a tester).
        #expect(refused.contains("a rule table also called local-1 but with other rules (digest "), "\(refused)")
        #expect(refused.contains("`ledger reproject --rules FILE` (this table's file)"), "\(refused)")
        // Asked with the built-in table of a ledger built with it: leave out --rules.
        let builtIn = cli.run("project")
        #expect(builtIn.error.contains("give the table it was built with (--rules FILE of local-1), or rebuild it with this one: `ledger reproject` ("), "\(builtIn.error)")
        #expect(cli.run("reproject", "--rules", b).exitCode == 0)
        #expect(ReprojectionCLITests.project(cli, "--rules", b).contains(#""mailboxFull" : 1"#))
        // status shows its events as the projection sees them, as history does (found by a new user:
        // the event kept the qualification it was recorded with while the status said otherwise).
        for args in [["status", "ann@example.com"], ["status", "ann@example.com", "--as-of", "2026-11-03T00:00:00Z"], ["history", "ann@example.com"]] {
            let r = cli.run(args + ["--delivery", "d1", "--rules", b, "--format", "json"])
            #expect(r.exitCode == 0, "\(r.error)")
            let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [String: Any])
            let events = (doc["events"] as? [[String: Any]]) ?? ((doc["history"] as? [[String: Any]])?.compactMap { $0["event"] as? [String: Any] } ?? [])
            #expect(events.first?["failureReason"] as? String == "mailboxFull" && events.first?["failureType"] as? String == "soft", "\(args): \(r.output)")
            // …and names the rule that decided (found by a new user: no output said it).
            #expect(events.first?["qualifier"] as? String == "local-1#walrus", "\(args): \(r.output)")
        }
        let table = cli.run("status", "ann@example.com", "--delivery", "d1", "--rules", b)
        #expect(table.output.contains("[Soft, Mailbox full by rule walrus]"), "\(table.output)")
        #expect(cli.run("verify", "--rules", b).exitCode == 0)
        // A write without --rules re-projects with the built-in table, and says so (found by a new user).
        let relay = #"{"id":"r2","kind":"relay","delivery":"d1","recipient":"bob@example.com","occurredAt":"2026-11-02T09:00:00Z"}"#
        let ingest = cli.run("ingest", cli.file("r.jsonl", relay))
        #expect(ingest.exitCode == 0 && ingest.output.contains("re-projected with rule table \(RuleTable.builtIn.version)"), "\(ingest.output)")
        let again = cli.run("ingest", cli.file("r2.jsonl", relay))
        #expect(!again.output.contains("re-projected"), "\(again.output)")
        let withB = cli.run("project", "--rules", b)
        #expect(withB.error.contains("leave out --rules (it was built with the built-in table)"), "\(withB.error)")
        // efs enable, another write, says so too (found by a new user: it re-projected without a word).
        #expect(cli.run("reproject", "--rules", b).exitCode == 0)
        let efs = cli.run("efs", "enable", "--at", "2026-11-01T00:00:00Z")
        #expect(efs.exitCode == 0 && efs.output.contains("re-projected with rule table \(RuleTable.builtIn.version)"), "\(efs.output)")
    }
}

@Suite struct TimelineBoundsCLITests {
    /// A bucket that overflows, or a timeline of too many points, is a clear error, not a crash or an
    /// endless loop (found by a tester).
    @Test func hugeBucketsAndTooManyPointsAreErrors() throws {
        let cli = CLI()
        let lines = [
            #"{"id":"r1","kind":"relay","delivery":"d1","recipient":"a@example.com","occurredAt":"1970-01-01T00:00:00Z"}"#,
            #"{"id":"r2","kind":"relay","delivery":"d1","recipient":"b@example.com","occurredAt":"9999-12-31T00:00:00Z"}"#,
        ]
        #expect(cli.ingest(lines, file: "r.jsonl").exitCode == 0)
        for bucket in ["9223372036854775s", "106751991167d", "367d"] {
            let r = cli.run("timeline", "--delivery", "d1", "--bucket", bucket)
            #expect(r.exitCode != 0 && r.error.contains("at most 366d"), "\(bucket): \(r.error)")
        }
        let many = cli.run("timeline", "--delivery", "d1", "--bucket", "1d")
        #expect(many.exitCode != 0 && many.error.contains("use a longer bucket"), "\(many.error)")
        #expect(cli.run("timeline", "--delivery", "d1", "--bucket", "366d").exitCode == 0)
    }
}

@Suite struct HistoryAndOnePointCLITests {
    /// `history` says "(retrying)" under EFS as under classic; a one-point timeline draws dots.
    @Test func retryingUnderBothSemanticsAndAOnePointChart() throws {
        let cli = CLI()
        let lines = [
            #"{"id":"r1","kind":"relay","delivery":"d1","recipient":"a@example.com","occurredAt":"2026-11-02T09:00:00Z"}"#,
            #"{"id":"x1","kind":"retry","delivery":"d1","recipient":"a@example.com","occurredAt":"2026-11-02T09:00:00Z","smtpCode":452,"response":"452 4.2.2 mailbox full","failureType":"soft","failureReason":"mailboxFull"}"#,
        ]
        #expect(cli.ingest(lines, file: "r.jsonl").exitCode == 0)
        let history = cli.run("history", "a@example.com").output
        let retryRow = try #require(history.split(separator: "\n").first { $0.contains(" retry ") })
        #expect(retryRow.contains("Sent (retrying)") && retryRow.contains("Taken into account (retrying)"), "\(retryRow)")
        let svg = cli.run("timeline", "--delivery", "d1", "--format", "svg").output
        #expect(svg.components(separatedBy: "<circle").count - 1 == 2 && !svg.contains("<polyline"))
    }
}
