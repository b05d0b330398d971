import Foundation
import LedgerTestSupport
import Testing

/// Bad input gets a clear error naming file, line/element and field, and leaves the ledger unchanged.
@Suite struct BadInputTests {
    static let good = """
        {"id":"r1","kind":"relay","delivery":"d1","recipient":"a@example.com","occurredAt":"2026-11-02T09:00:00Z"}
        {"id":"r2","kind":"relay","delivery":"d1","recipient":"b@example.com","occurredAt":"2026-11-02T09:00:01Z"}
        """

    struct Case: Sendable, CustomStringConvertible {
        var description: String
        var contents: String
        /// Fragments the error message must contain (file name is checked separately).
        var mentions: [String]
    }

    static let cases: [Case] = [
        Case(description: "truncated JSON line",
             contents: good + "\n{\"id\":\"r3\",\"kind\":\"relay\",\"delivery\":\"d1\",\"recip",
             mentions: ["line 3"]),
        Case(description: "wrong type",
             contents: good + "\n{\"id\":\"b1\",\"kind\":\"bounce\",\"delivery\":\"d1\",\"recipient\":\"a@example.com\",\"occurredAt\":\"2026-11-02T09:01:00Z\",\"smtpCode\":\"five-fifty\"}",
             mentions: ["line 3", "smtpCode"]),
        Case(description: "unknown kind",
             contents: "{\"id\":\"x\",\"kind\":\"opened\",\"delivery\":\"d1\",\"recipient\":\"a@example.com\",\"occurredAt\":\"2026-11-02T09:00:00Z\"}\n" + good,
             mentions: ["line 1", "kind", "opened"]),
        Case(description: "missing recipient",
             contents: good + "\n{\"id\":\"r3\",\"kind\":\"delivered\",\"delivery\":\"d1\",\"occurredAt\":\"2026-11-02T09:00:00Z\"}",
             mentions: ["line 3", "recipient"]),
        Case(description: "impossible timestamp",
             contents: good + "\n{\"id\":\"r3\",\"kind\":\"relay\",\"delivery\":\"d1\",\"recipient\":\"c@example.com\",\"occurredAt\":\"2026-02-30T09:00:00Z\"}",
             mentions: ["line 3", "occurredAt"]),
        Case(description: "SparkPost element with a bad bounce_class",
             contents: """
                [{"msys":{"message_event":{"type":"injection","event_id":"1","campaign_id":"c","rcpt_to":"a@example.com","timestamp":"1464824548"}}},
                 {"msys":{"message_event":{"type":"bounce","event_id":"2","campaign_id":"c","rcpt_to":"a@example.com","timestamp":"1464824549","bounce_class":"abc"}}}]
                """,
             mentions: ["element 1", "bounce_class"]),
        Case(description: "SparkPost element without recipient",
             contents: """
                [{"msys":{"message_event":{"type":"delivery","event_id":"2","campaign_id":"c","timestamp":"1464824549"}}}]
                """,
             mentions: ["element 0", "rcpt_to"]),
    ]

    @Test(arguments: cases)
    func badFileIsRejectedWholeAndNamed(_ c: Case) throws {
        let cli = CLI()
        #expect(cli.run("ingest", cli.file("seed.jsonl", Self.good)).exitCode == 0)
        let path = cli.file("bad-input.json", c.contents)
        let r = cli.run("ingest", path)
        #expect(r.exitCode != 0)
        #expect(r.error.contains("bad-input.json"), "\(r.error)")
        for m in c.mentions { #expect(r.error.contains(m), "error should mention \(m): \(r.error)") }
        #expect(r.error.contains("Nothing was appended"), "\(r.error)")
        #expect(try cli.basisPosition() == 2)
    }

    @Test func tenMegabyteLineIsRejectedClearly() throws {
        let cli = CLI()
        let huge = "{\"id\":\"x\",\"kind\":\"relay\",\"delivery\":\"d1\",\"recipient\":\"a@example.com\",\"occurredAt\":\"2026-11-02T09:00:00Z\",\"response\":\""
            + String(repeating: "A", count: 10 << 20) + "\"}"
        let path = cli.file("huge.jsonl", Self.good + "\n" + huge + "\n")
        let r = cli.run("ingest", path)
        #expect(r.exitCode != 0)
        #expect(r.error.contains("huge.jsonl"), "\(r.error)")
        #expect(r.error.contains("line 3"), "\(r.error)")
        #expect(try cli.basisPosition() == 0)
    }

    @Test func skipInvalidAppendsTheGoodOnesAndWritesTheBadOnesUntouched() throws {
        let cli = CLI()
        let bad1 = "{\"id\":\"x\",\"kind\":\"opened\",\"delivery\":\"d1\",\"recipient\":\"a@example.com\",\"occurredAt\":\"2026-11-02T09:00:00Z\"}"
        let bad2 = "{\"id\":\"y\",\"kind\":\"relay\",\"delivery\":\"d1\",\"recipient\":\"c@example.com\",\"occurredAt\":\"2026-13-01T00:00:00Z\"}"
        let path = cli.file("mixed.jsonl", bad1 + "\n" + Self.good + "\n" + bad2 + "\n")
        let rejects = cli.directory.path("rejects.jsonl")
        let r = cli.run("ingest", path, "--skip-invalid", "--reject-file", rejects)
        #expect(r.exitCode == 0, "\(r.error)")
        #expect(r.output.contains("Appended 2 events"), "\(r.output)")
        #expect(r.output.contains("2 rejected"), "\(r.output)")
        let written = try String(contentsOfFile: rejects, encoding: .utf8)
        #expect(written == bad1 + "\n" + bad2 + "\n")
        #expect(try cli.basisPosition() == 2)
    }

    /// A run that fails (here: the second file holds no record, found after the first was read) appends
    /// nothing and leaves no rejects of a run that did not happen (found by a tester: the reject
    /// file kept the first file's rejected records).
    @Test func aFailedRunLeavesTheRejectFileEmpty() throws {
        let cli = CLI()
        let bad = "{\"id\":\"x\",\"kind\":\"opened\",\"delivery\":\"d1\",\"recipient\":\"a@example.com\",\"occurredAt\":\"2026-11-02T09:00:00Z\"}"
        let first = cli.file("mixed.jsonl", bad + "\n" + Self.good + "\n")
        let second = cli.file("empty.jsonl", "")
        let rejects = cli.directory.path("rejects.jsonl")
        let r = cli.run("ingest", first, second, "--skip-invalid", "--reject-file", rejects)
        #expect(r.exitCode != 0 && r.error.contains("empty.jsonl"), "\(r.error)")
        #expect(try cli.basisPosition() == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: rejects)).isEmpty)
    }

    @Test func skipInvalidSparkPostRejectsAreAReingestableArray() throws {
        let cli = CLI()
        let good = #"{"msys":{"message_event":{"type":"injection","event_id":"1","campaign_id":"c","rcpt_to":"a@example.com","timestamp":"1464824548"}}}"#
        let bad = #"{"msys":{"message_event":{"type":"delivery","event_id":"2","campaign_id":"c","timestamp":"1464824549"}}}"#
        let path = cli.file("batch.json", "[" + good + ",\n  " + bad + "]")
        let rejects = cli.directory.path("rejects.json")
        let r = cli.run("ingest", path, "--skip-invalid", "--reject-file", rejects)
        #expect(r.exitCode == 0, "\(r.error)")
        let written = try Data(contentsOf: URL(fileURLWithPath: rejects))
        let array = try #require(try JSONSerialization.jsonObject(with: written) as? [Any])
        #expect(array.count == 1)
        #expect(String(decoding: written, as: UTF8.self).contains(bad))
    }

    /// A provider's rejected element cut from a pretty-printed array spans several lines: the reject
    /// file holds it as one line of compact JSON (the same value), so that each line is one record.
    @Test func skipInvalidProviderRejectsAreOneLineEach() throws {
        let cli = CLI()
        let bad = """
            {
                "email": "not an address",
                "timestamp": 1793610001,
                "event": "delivered",
                "sg_event_id": "sg-bad",
                "sg_message_id": "m2.filter"
              }
            """
        let batch = """
            [
              {
                "email": "a@example.com",
                "timestamp": 1793610000,
                "event": "delivered",
                "sg_event_id": "sg-good",
                "sg_message_id": "m1.filter"
              },
              \(bad),
              {"email": "b@example.com", "timestamp": 1793610002, "event": "bounce", "reason": "550 5.1.1 user unknown",
               "sg_event_id": "sg-bad-2", "sg_message_id": "m3.filter", "timestamp": 1}
            ]
            """
        let rejects = cli.directory.path("rejects.jsonl")
        let r = cli.run("ingest", cli.file("sendgrid.json", batch), "--format", "sendgrid", "--skip-invalid", "--reject-file", rejects)
        #expect(r.exitCode == 0, "\(r.error)")
        #expect(r.output.contains("2 rejected"), "\(r.output)")
        let lines = try String(contentsOfFile: rejects, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 3 && lines.last == "", "\(lines)")  // two records, each ended by LF
        let first = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? NSDictionary)
        #expect(first == (try JSONSerialization.jsonObject(with: Data(bad.utf8)) as? NSDictionary))
        #expect(lines[0] == #"{"email":"not an address","timestamp":1793610001,"event":"delivered","sg_event_id":"sg-bad","sg_message_id":"m2.filter"}"#)
        #expect(lines[1].hasPrefix(#"{"email":"b@example.com","timestamp":1793610002,"#))
        #expect(try cli.basisPosition() == 1)
    }

    /// A reject file among the ledger's own files would be truncated before the ledger opens (found
    /// by a tester: `--reject-file DB/data.mdb` emptied the ledger): refused, whatever path names
    /// it, and the ledger is untouched.
    @Test func aRejectFileAmongTheLedgersFilesIsRefused() throws {
        let cli = CLI()
        let input = cli.file("in.jsonl", Self.good)
        #expect(cli.run("ingest", input).exitCode == 0)
        let dataFile = cli.db + "/data.mdb"
        let size = try #require(try FileManager.default.attributesOfItem(atPath: dataFile)[.size] as? Int)
        let link = cli.directory.path("link-to-data")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: dataFile)
        let hard = cli.directory.path("hard-link-to-data")
        try FileManager.default.linkItem(atPath: dataFile, toPath: hard)
        for target in [dataFile, cli.db + "/rejects.jsonl", link, hard] {
            let r = cli.run("ingest", input, "--skip-invalid", "--reject-file", target)
            #expect(r.exitCode != 0 && r.error.contains("it would overwrite the ledger"), "\(target): \(r.error)")
        }
        #expect(try FileManager.default.attributesOfItem(atPath: dataFile)[.size] as? Int == size)
        #expect(try cli.basisPosition() == 2)
    }

    @Test func usageErrors() throws {
        let cli = CLI()
        #expect(cli.run("ingest", "--reject-file", "x", cli.file("a.jsonl", Self.good)).exitCode != 0)
        let input = cli.file("same.jsonl", Self.good)
        #expect(cli.run("ingest", input, "--skip-invalid", "--reject-file", input).error.contains("is also an input file"))
        #expect(cli.run("ingest", input, "--delivery-key", "").exitCode != 0)
        #expect(cli.run("ingest", cli.directory.path("missing.json")).error.contains("no such file"))
        #expect(cli.run("project", "--format", "xml").exitCode != 0)
        // A count the generator cannot hold is a usage error (it was a crash by precondition).
        #expect(cli.run("generate", "--recipients", "100000000000", "--output", "-").exitCode == 64)
        #expect(cli.run("generate", "--recipients", "1000000", "--deliveries", "1000", "--output", "-").error.contains("at most 200000000"))
        #expect(cli.run("project").error.contains("no ledger there"))  // read commands never create a ledger
        #expect(!FileManager.default.fileExists(atPath: cli.db))
        #expect(cli.run("ingest", cli.file("seed.jsonl", Self.good)).exitCode == 0)
        #expect(cli.run("project", "--delivery", "nope").error.contains("unknown delivery 'nope'"))
        #expect(cli.run("status", "not-an-address").exitCode != 0)
        #expect(cli.run("status", "nobody@example.com").error.contains("no events for nobody@example.com"))
        #expect(cli.run("history", "nobody@example.com").error.contains("(ledger \(cli.db))"))  // which ledger was searched
        // The address as the ledger spells it (domain lower-cased, brackets removed).
        #expect(cli.run("status", "<nobody@EXAMPLE.com>").error.contains("no events for nobody@example.com in any delivery"))
        // The local part is case-sensitive (RFC 5321 §2.4): A@example.com is another recipient, and
        // the error names the one the ledger holds.
        for command in [["status"], ["status", "--delivery", "d1"], ["history"], ["address"]] {
            let error = cli.run(command + ["A@example.com"]).error
            #expect(error.contains("no events for A@example.com") && error.contains("It has a@example.com, which differs only in letter case"),
                    "\(command): \(error)")
        }
        // a@example.com's relay occurred at 09:00: nothing by 08:00.
        #expect(cli.run("status", "a@EXAMPLE.com", "--as-of", "2026-11-02T08:00:00Z").error
                .contains("a@example.com has events in delivery 'd1', but none that occurred by 2026-11-02T08:00:00.000Z (--as-of)"))
        // address says it too (it said "no events for", found by a fresh user).
        #expect(cli.run("address", "a@EXAMPLE.com", "--as-of", "2026-11-02T08:00:00Z").error
                .contains("a@example.com has events in delivery 'd1', but none that occurred by 2026-11-02T08:00:00.000Z (--as-of)"))
        // An instant before 1970 is well-formed but outside the ledger's range: the range is named
        // (it was called "not an RFC 3339 instant"); a 13th month is malformed.
        #expect(cli.run("project", "--as-of", "1900-01-01T00:00:00Z").error
                .contains("--as-of '1900-01-01T00:00:00Z' is outside the instants the ledger accepts (1970-01-01T00:00:00.000Z to 9999-12-31T23:59:59.999Z, UTC)"))
        #expect(cli.run("project", "--known-at", "2026-13-01T00:00:00Z").error.contains("is not an RFC 3339 instant"))
        // history says the same (it said "no events", found by a fresh user); nothing was recorded in 2020.
        #expect(cli.run("history", "a@example.com", "--as-of", "2026-11-02T08:00:00Z").error
                .contains("a@example.com has events in delivery 'd1', but none that occurred by 2026-11-02T08:00:00.000Z (--as-of)"))
        #expect(cli.run("history", "a@example.com", "--known-at", "2020-01-01T00:00:00Z").error
                .contains("a@example.com has events in delivery 'd1', but none that was recorded by 2020-01-01T00:00:00.000Z (--known-at)"))
    }
}

extension BadInputTests {
    /// With --skip-invalid an event whose id the ledger holds with other content is rejected too.
    @Test func skipInvalidRejectsIdConflictsAndAppendsTheRest() throws {
        let cli = CLI()
        #expect(cli.run("ingest", cli.file("seed.jsonl", Self.good)).exitCode == 0)
        let clash = #"{"id":"r1","kind":"relay","delivery":"d1","recipient":"a@example.com","occurredAt":"2026-11-02T10:00:00Z"}"#
        let fresh = #"{"id":"r9","kind":"relay","delivery":"d1","recipient":"z@example.com","occurredAt":"2026-11-02T10:00:00Z"}"#
        let path = cli.file("clash.jsonl", clash + "\n" + fresh + "\n")
        let strict = cli.run("ingest", path)
        #expect(strict.error.contains("clash.jsonl: line 1 (id 'r1'): the ledger already holds an event with this id at position 1"), "\(strict.error)")
        let rejects = cli.directory.path("rejects.jsonl")
        let r = cli.run("ingest", path, "--skip-invalid", "--reject-file", rejects)
        #expect(r.exitCode == 0, "\(r.error)")
        #expect(r.output.contains("Appended 1 event (position 3)"), "\(r.output)")
        // The conflict is shown like a record the reader rejected (it was counted, and never
        // "… and 1 more" with none listed).
        #expect(r.output.contains("Rejected: " + path + ": line 1 (id 'r1'): the ledger already holds an event with this id at position 1"), "\(r.output)")
        #expect(!r.output.contains("more (--reject-file"), "\(r.output)")
        #expect(try String(contentsOfFile: rejects, encoding: .utf8) == clash + "\n")
    }
}
