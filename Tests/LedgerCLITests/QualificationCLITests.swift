import DeliveryLedger
import Foundation
import LedgerTestSupport
import Testing

@Suite struct QualificationCLITests {
    @Test func theBuiltInRuleTableMatchesItsSchema() throws {
        let url = Corpus.packageRoot.appendingPathComponent("Sources/DeliveryLedger/Qualification/Resources/default-rules.json")
        #expect(try SchemaValidation.validate(instance: Data(contentsOf: url), schemaNamed: "rules") == [])
    }

    @Test func qualifyPrintsTypeReasonAndRule() throws {
        let cli = CLI()
        let r = cli.run("qualify", "--format", "json", "552 5.2.2 <ann@example.com>: Mailbox full")
        #expect(r.exitCode == 0, "\(r.error)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [String: Any])
        #expect(doc["failureType"] as? String == "soft")
        #expect(doc["failureReason"] as? String == "mailboxFull")
        #expect(doc["rule"] as? String == "mailbox-full-status")
        #expect(doc["final"] as? Bool == true)
        let table = cli.run("qualify", "550 5.1.1 <ann@example.com>: Recipient address rejected: User unknown")
        #expect(table.output.contains("User unknown (Campaign code 1)"), "\(table.output)")
        #expect(cli.run("qualify").exitCode != 0)
    }

    /// A new rule table re-qualifies text-qualified events by re-projection; the log is unchanged.
    @Test func aNewRuleTableRequalifiesByReprojection() throws {
        let cli = CLI()
        let line = #"{"id":"p1","kind":"bounce","delivery":"d1","recipient":"ann@example.com","occurredAt":"2026-11-02T09:00:00Z","final":true,"smtpCode":550,"response":"550 the walrus says no","failureType":"notDefined","failureReason":"notDefined","qualifier":"rules-2026.11-1#permanent-reply"}"#
        #expect(cli.run("ingest", cli.file("p.jsonl", line)).exitCode == 0)
        let before = try cli.kpis("d1", "classic")
        #expect((before["failedByReason"] as? [String: Int])?["notDefined"] == 1)

        let rules = cli.file("rules.json", #"{"version":"local-1","rules":[{"id":"walrus","text":"walrus","failureType":"soft","failureReason":"accountDisabled","source":"test"}]}"#)
        #expect(cli.run("reproject", "--rules", rules).exitCode == 0)
        let r = cli.run("project", "--format", "json", "--rules", rules)
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [String: Any])
        #expect((doc["basis"] as? [String: Any])?["rules"] as? String == "local-1")
        let kpis = try #require((doc["deliveries"] as? [[String: Any]])?.first)
        #expect((kpis["failedByReason"] as? [String: Int])?["accountDisabled"] == 1)
        #expect((kpis["failedByType"] as? [String: Int])?["soft"] == 1)
        // The log is never rewritten; back to the built-in table, the projection is rebuilt again and
        // status names the built-in rule that decides the event now.
        #expect(cli.run("reproject").exitCode == 0)
        let status = cli.run("status", "ann@example.com", "--format", "json")
        #expect(status.output.contains("\"qualifier\":\"\(RuleTable.builtIn.version)#permanent-reply\""), "\(status.output)")
        let after = try cli.kpis("d1", "classic")
        #expect((after["failedByReason"] as? [String: Int])?["notDefined"] == 1)
        #expect(try cli.basisPosition() == 1)
    }

    @Test func aBadRuleTableIsAClearError() throws {
        let cli = CLI()
        let rules = cli.file("bad.json", #"{"version":"v","rules":[{"id":"x","enhancedStatus":"5.1","failureType":"hard","failureReason":"userUnknown","source":"s"}]}"#)
        let r = cli.run("project", "--rules", rules)
        #expect(r.exitCode != 0)
        #expect(r.error.contains("rules[0] (x).enhancedStatus '5.1'"), "\(r.error)")
    }

    /// A misspelt condition is an error, not a rule that matches everything.
    @Test func anUnknownRuleMemberIsAClearError() throws {
        let cli = CLI()
        let rules = cli.file("typo.json", #"{"version":"v","rules":[{"id":"x","regex":"unknown","failureType":"hard","failureReason":"userUnknown","source":"s"}]}"#)
        let r = cli.run("project", "--rules", rules)
        #expect(r.exitCode != 0)
        #expect(r.error.contains("rules[0] (x).regex is not a member of a rule"), "\(r.error)")
    }
}

@Suite struct EFSFlagCLITests {
    /// `project` without --efs/--classic uses the flag in force now; toggling it rewrites nothing.
    @Test func theFlagInForceChoosesTheDefaultSemantics() throws {
        let cli = CLI()
        #expect(cli.run("ingest", cli.file("r.jsonl", #"{"id":"r1","kind":"relay","delivery":"d1","recipient":"a@example.com","occurredAt":"2026-11-02T09:00:00Z"}"#)).exitCode == 0)
        func semantics() throws -> String? {
            let doc = try cli.projectJSON()
            return ((doc["deliveries"] as? [[String: Any]])?.first?["semantics"]) as? String
        }
        #expect(try semantics() == "classic")  // never set
        let before = cli.run("project", "--both", "--format", "json").output
        #expect(cli.run("efs", "enable", "--at", "2026-11-01T00:00:00Z").exitCode == 0)
        #expect(try semantics() == "efs")
        #expect(cli.run("efs", "disable", "--at", "2026-11-03T00:00:00Z").exitCode == 0)
        #expect(try semantics() == "classic")
        // A change dated in the future is not in force yet.
        #expect(cli.run("efs", "enable", "--at", "9999-01-01T00:00:00Z").exitCode == 0)
        #expect(try semantics() == "classic")
        let history = cli.run("efs", "history").output
        #expect(history.split(separator: "\n").count == 3)
        // Same KPIs, only the basis (three more events) differs.
        let after = cli.run("project", "--both", "--format", "json").output
        func deliveries(_ s: String) throws -> String {
            let doc = try #require(try JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String: Any])
            return String(decoding: try JSONSerialization.data(withJSONObject: doc["deliveries"]!, options: [.sortedKeys]), as: UTF8.self)
        }
        #expect(try deliveries(before) == deliveries(after))
        #expect(cli.run("efs", "enable", "--at", "not a date").exitCode != 0)
    }
}

@Suite struct TimeTravelCLITests {
    @Test func projectAndStatusAsOfAndKnownAt() throws {
        let cli = CLI()
        let lines = [
            #"{"id":"d","kind":"delivery","delivery":"d1","occurredAt":"2026-11-02T08:00:00Z","toDeliver":2}"#,
            #"{"id":"r1","kind":"relay","delivery":"d1","recipient":"a@example.com","occurredAt":"2026-11-02T09:00:00Z"}"#,
            #"{"id":"r2","kind":"relay","delivery":"d1","recipient":"b@example.com","occurredAt":"2026-11-02T09:00:00Z"}"#,
            #"{"id":"x1","kind":"delivered","delivery":"d1","recipient":"a@example.com","occurredAt":"2026-11-02T09:05:00Z"}"#,
            #"{"id":"h2","kind":"bounce","delivery":"d1","recipient":"b@example.com","occurredAt":"2026-11-02T09:10:00Z","bounceClass":10}"#,
        ]
        #expect(cli.ingest(lines, file: "e.jsonl").exitCode == 0)
        let r = cli.run("project", "--both", "--format", "json", "--as-of", "2026-11-02T09:01:00Z")
        #expect(r.exitCode == 0, "\(r.error)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [String: Any])
        #expect((doc["basis"] as? [String: Any])?["asOf"] as? String == "2026-11-02T09:01:00.000Z")
        let list = try #require(doc["deliveries"] as? [[String: Any]])
        // Right after relay: classic 100 %, EFS 0 % (the seed's first row).
        #expect(list.first { $0["semantics"] as? String == "classic" }?["successRate"] as? Double == 1.0)
        #expect(list.first { $0["semantics"] as? String == "efs" }?["successRate"] as? Double == 0.0)
        #expect(try SchemaValidation.validate(instance: Data(r.output.utf8), schemaNamed: "project") == [])
        let s = cli.run("status", "b@example.com", "--format", "json", "--as-of", "2026-11-02T09:05:00Z")
        #expect(s.output.contains(#""status":"takenIntoAccount""#), "\(s.output)")
        #expect(try SchemaValidation.validate(jsonLines: Array(s.output.utf8), schemaNamed: "status") == [])
        let past = cli.run("project", "--known-at", "2000-01-01T00:00:00Z", "--delivery", "d1")
        #expect(past.output.contains("Basis: log position 0 (nothing recorded); known at 2000-01-01T00:00:00.000Z"), "\(past.output)")
        #expect(cli.run("project", "--as-of", "yesterday").exitCode != 0)
    }
}

@Suite struct HistoryCLITests {
    /// The timeline shows the status after each event, in valid-time order, under both semantics.
    @Test func historyShowsTheStatusEachEventLedTo() throws {
        let cli = CLI()
        let lines = [
            #"{"id":"r1","kind":"relay","delivery":"d1","recipient":"a@example.com","occurredAt":"2026-11-02T09:00:00Z"}"#,
            #"{"id":"s1","kind":"retry","delivery":"d1","recipient":"a@example.com","occurredAt":"2026-11-02T09:10:00Z","smtpCode":452,"response":"452 4.2.2 Mailbox full"}"#,
            #"{"id":"x1","kind":"delivered","delivery":"d1","recipient":"a@example.com","occurredAt":"2026-11-02T10:00:00Z"}"#,
            #"{"id":"o1","kind":"bounce","delivery":"d1","recipient":"a@example.com","occurredAt":"2026-11-02T12:00:00Z","inBand":false,"response":"550 5.1.1 user unknown"}"#,
        ]
        // Shuffled arrival: the timeline is still in valid-time order.
        #expect(cli.run("ingest", cli.file("e.jsonl", [lines[3], lines[1], lines[0], lines[2]].joined(separator: "\n"))).exitCode == 0)
        let r = cli.run("history", "a@example.com")
        #expect(r.exitCode == 0, "\(r.error)")
        let rows = r.output.split(separator: "\n").filter { $0.contains("2026-11-02T") }
        #expect(rows.count == 4)
        #expect(rows[0].contains("relay") && rows[0].contains("Sent") && rows[0].contains("Taken into account"))
        #expect(rows[1].contains("retry [Soft, Mailbox full]") && rows[1].contains("Sent (retrying)"))
        #expect(rows[2].contains("delivered") && !rows[2].contains("Taken into account"))
        #expect(rows[3].contains("bounce (final) [Hard, User unknown]") && rows[3].contains("Failed"))
        #expect(cli.run("history", "nobody@example.com").exitCode != 0)
    }

    /// A failure before relay is named so in `history` as in `status` (a fresh user saw "bounce final
    /// before relay" in one and "bounce (final)" in the other for the same event).
    @Test func historyNamesAFailureBeforeRelayAsStatusDoes() throws {
        let cli = CLI()
        let line = #"{"id":"p1","kind":"bounce","delivery":"d1","recipient":"b@example.com","occurredAt":"2026-11-02T09:00:00Z","beforeRelay":true,"response":"554 5.7.1 policy rejection"}"#
        #expect(cli.run("ingest", cli.file("p.jsonl", line)).exitCode == 0)
        let history = cli.run("history", "b@example.com")
        #expect(history.output.contains("bounce (final) before relay ["), "\(history.output)")
        let status = cli.run("status", "b@example.com")
        #expect(status.output.contains("bounce final before relay"), "\(status.output)")
    }
}

@Suite struct QuarantineCLITests {
    @Test func quarantineListsHardFailuresAndComplaints() throws {
        let cli = CLI()
        let lines = [
            #"{"id":"h","kind":"bounce","delivery":"d1","recipient":"gone@example.com","occurredAt":"2026-11-02T09:00:00Z","bounceClass":10}"#,
            #"{"id":"c","kind":"complaint","delivery":"d1","recipient":"angry@example.com","occurredAt":"2026-11-02T09:00:00Z"}"#,
            #"{"id":"s","kind":"retry","delivery":"d1","recipient":"full@example.com","occurredAt":"2026-11-02T09:00:00Z","bounceClass":22}"#,
        ]
        #expect(cli.ingest(lines, file: "q.jsonl").exitCode == 0)
        let csv = cli.run("quarantine", "--format", "csv", "--as-of", "2026-11-03T00:00:00Z")
        #expect(csv.exitCode == 0, "\(csv.error)")
        #expect(csv.output == """
            address,status,reason,since,errorCount
            angry@example.com,denylisted,denylistedAddress,2026-11-02T09:00:00.000Z,0
            gone@example.com,quarantine,userUnknown,2026-11-02T09:00:00.000Z,0

            """)
        let one = cli.run("address", "full@example.com", "--as-of", "2026-11-03T00:00:00Z")
        #expect(one.output.contains("full@example.com: With errors (Mailbox full)"), "\(one.output)")
        #expect(one.output.contains("Counted soft errors: 1"))
        // An address a spreadsheet would read as a formula (valid: '=' and '+' are RFC 5322 atext)
        // is written with a leading ' (OWASP "CSV Injection"); JSON keeps it as it is.
        let formula = #"{"id":"f","kind":"bounce","delivery":"d1","recipient":"=1+2@example.com","occurredAt":"2026-11-02T09:00:00Z","bounceClass":10}"#
        #expect(cli.ingest([formula], file: "f.jsonl").exitCode == 0)
        let guarded = cli.run("quarantine", "--format", "csv", "--as-of", "2026-11-03T00:00:00Z")
        #expect(guarded.output.split(separator: "\n").contains(#""'=1+2@example.com",quarantine,userUnknown,2026-11-02T09:00:00.000Z,0"#), "\(guarded.output)")
        #expect(cli.run("quarantine", "--format", "json", "--as-of", "2026-11-03T00:00:00Z").output.contains(#""=1+2@example.com""#))
        // The same answer as JSON (the document GET /api/address serves).
        let json = cli.run("address", "full@example.com", "--as-of", "2026-11-03T00:00:00Z", "--format", "json")
        #expect(json.exitCode == 0, "\(json.error)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any])
        #expect(doc["address"] as? String == "full@example.com")
        #expect(doc["status"] as? String == "withErrors")
        #expect(doc["reason"] as? String == "mailboxFull")
        #expect(doc["errorCount"] as? Int == 1)
        #expect(doc["asOf"] as? String == "2026-11-03T00:00:00.000Z")
        #expect(cli.run("address", "full@example.com", "--format", "xml").exitCode != 0)
    }
}

@Suite struct VerifyCLITests {
    /// One byte changed with LMDB's own tools (mdb_dump / mdb_load, Debian's lmdb-utils, installed by
    /// Tools/install-deps) makes
    /// `ledger verify` fail naming the position.
    @Test func verifyFailsAfterARawEdit() throws {
        let cli = CLI()
        #expect(cli.run("ingest", try cli.corpus("sparkpost/java-sparkpost/webhook-batch-captured-2017.json")).exitCode == 0)
        let ok = cli.run("verify")
        #expect(ok.exitCode == 0, "\(ok.error)")
        #expect(ok.output.contains("OK"))
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/mdb_dump"),
              FileManager.default.isExecutableFile(atPath: "/usr/bin/mdb_load") else {
            Issue.record("mdb_dump and mdb_load are needed (Debian's lmdb-utils; Tools/install-deps installs them)")
            return
        }
        func sh(_ command: String) throws -> Int32 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", command]
            try p.run()
            p.waitUntilExit()
            return p.terminationStatus
        }
        let dump = cli.directory.path("log.dump")
        #expect(try sh("mdb_dump -s log '\(cli.db)' > '\(dump)'") == 0)
        // Hex dump: a key line then its value line, each starting with a space. Change one byte of
        // the value of position 3 (key 0000000000000003): its campaign text "test" (74657374) → "tesT".
        let lines = try String(contentsOfFile: dump, encoding: .utf8).components(separatedBy: "\n")
        let keyLine = try #require(lines.firstIndex(of: " 0000000000000003"))
        #expect(lines[keyLine + 1].contains("74657374"))
        var edited = lines
        if let range = lines[keyLine + 1].range(of: "74657374") {
            edited[keyLine + 1] = lines[keyLine + 1].replacingCharacters(in: range, with: "74657354")
        }
        try edited.joined(separator: "\n").write(toFile: dump, atomically: true, encoding: .utf8)
        #expect(try sh("mdb_load -s log -f '\(dump)' '\(cli.db)' 2>/dev/null") == 0)
        let bad = cli.run("verify")
        #expect(bad.exitCode != 0)
        #expect(bad.error.contains("position 3:"), "\(bad.error)")

        // Issue 12: ingest appends nothing to a ledger that verify finds damaged, and says where;
        // --no-verify is the documented way past the check.
        let more = cli.directory.path("more.jsonl")
        try #"{"id":"m1","kind":"relay","delivery":"d9","recipient":"x@example.com","occurredAt":"2026-11-02T09:00:00Z"}"#
            .appending("\n").write(toFile: more, atomically: true, encoding: .utf8)
        let records = try #require(bad.output.split(separator: "\n").first.map(String.init))  // "Records: N; hash-chain head: …"
        let refused = cli.run("ingest", more)
        #expect(refused.exitCode != 0)
        #expect(refused.error.contains(cli.db) && refused.error.contains("is damaged") && refused.error.contains("position 3:"), "\(refused.error)")
        #expect(cli.run("verify").output.hasPrefix(records), "the refused ingest appended")
        // sweep decides from the recorded events: the same check first, nothing appended.
        let sweep = cli.run("sweep", "--now", "2026-12-01T00:00:00Z")
        #expect(sweep.exitCode != 0)
        #expect(sweep.error.contains("is damaged") && sweep.error.contains("position 3:") && sweep.error.contains("check sweep runs"), "\(sweep.error)")
        #expect(cli.run("verify").output.hasPrefix(records), "the refused sweep appended")
        let forced = cli.run("ingest", "--no-verify", more)
        #expect(forced.exitCode == 0, "\(forced.error)")
        #expect(forced.output.contains("Appended 1 event"), "\(forced.output)")
    }
}
