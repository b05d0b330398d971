import Foundation
import LedgerTestSupport
import Testing

/// `ledger ingest` of bounce messages (RFC 3464) and Postfix logs.
@Suite struct MailFeedsCLITests {
    static let dsn = """
        From: MAILER-DAEMON@mx.example.net
        To: bounces@example.com
        Subject: Undelivered Mail Returned to Sender
        Date: Mon, 2 Nov 2026 10:15:00 +0000
        MIME-Version: 1.0
        Content-Type: multipart/report; report-type=delivery-status; boundary="B1"

        --B1
        Content-Type: text/plain

        I'm sorry to have to inform you that your message could not be delivered.

        --B1
        Content-Type: message/delivery-status

        Reporting-MTA: dns; mx.example.net

        Final-Recipient: rfc822; ann@example.org
        Action: failed
        Status: 5.0.0
        Diagnostic-Code: smtp; 550 5.1.1 <ann@example.org>: Recipient address
            rejected: User unknown in virtual mailbox table
        Last-Attempt-Date: Mon, 2 Nov 2026 10:14:58 +0000

        --B1
        Content-Type: text/rfc822-headers

        From: news@example.com
        To: ann@example.org
        Subject: Spring sale
        X-Delivery-ID: spring-sale

        --B1--

        """

    /// The diagnostic's 5.1.1 beats the generic Status 5.0.0: Failed, hard, User unknown, in the
    /// delivery named by the returned message's X-Delivery-ID; the events' rule is reported.
    @Test func bounceMessagesFromADirectory() throws {
        let cli = CLI()
        let folder = cli.directory.url.appendingPathComponent("bounces")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data(Self.dsn.utf8).write(to: folder.appendingPathComponent("1.eml"))
        let r = cli.run("ingest", folder.path)
        #expect(r.exitCode == 0, "\(r.error)")
        #expect(r.output.contains("1.eml: dsn, 1 event"), "\(r.output)")
        let status = cli.run("status", "ann@example.org", "--format", "json")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(status.output.utf8)) as? [String: Any])
        #expect(doc["delivery"] as? String == "spring-sale")
        let view = try #require(doc["efs"] as? [String: Any])
        #expect(view["status"] as? String == "failed")
        #expect(view["failureType"] as? String == "hard")
        #expect(view["failureReason"] as? String == "userUnknown")
        #expect(cli.run("ingest", folder.path).output.contains("Appended 0 events, 1 duplicate"))
    }

    /// youyo-test.log: four `status=sent` lines, three queue ids, one with two recipients → four
    /// delivered messages, Sent under both semantics.
    @Test func postfixLog() throws {
        let cli = CLI()
        let log = try cli.corpus("postfix/youyo-test.log")
        let missing = cli.run("ingest", "--format", "postfix", log)
        #expect(missing.exitCode != 0)
        #expect(missing.error.contains("--delivery"))
        let r = cli.run("ingest", "--format", "postfix", "--delivery", "nov", "--year", "2018", log)
        #expect(r.exitCode == 0, "\(r.error)")
        #expect(r.output.contains("postfix, 4 events"), "\(r.output)")
        for s in ["classic", "efs"] {
            let k = try cli.kpis("nov", s)
            #expect(k["delivered"] as? Int == 4)
            #expect(k["success"] as? Int == 4)
            #expect(k["failed"] as? Int == 0)
        }
        #expect(cli.run("ingest", "--format", "postfix", "--delivery", "nov", "--year", "2018", log).output.contains("Appended 0 events"))
    }

    /// Year-less syslog stamps in local time: "Oct 10 15:59:30" at +09:00 is 06:59:30 UTC, given as
    /// `--utc-offset +09:00` or `--timezone Asia/Tokyo` (no daylight saving); a malformed offset, a
    /// name the IANA database lacks, or both options, are refused naming them.
    @Test(arguments: [["--utc-offset", "+09:00"], ["--timezone", "Asia/Tokyo"]])
    func postfixLocalTime(_ zone: [String]) throws {
        let cli = CLI()
        let log = try cli.corpus("postfix/youyo-test.log")
        let r = cli.run(["ingest", "--format", "postfix", "--delivery", "nov", "--year", "2018"] + zone + [log])
        #expect(r.exitCode == 0, "\(r.error)")
        let status = cli.run("status", "test@example.to", "--format", "json")
        #expect(status.output.contains(#""occurredAt":"2018-10-10T06:59:30.000Z""#), "\(status.output)")
        let bad = cli.run("ingest", "--format", "postfix", "--delivery", "nov", zone[0], zone[0] == "--timezone" ? "Europe/Atlantis" : "9h", log)
        #expect(bad.exitCode != 0 && bad.error.contains(zone[0]), "\(bad.error)")
        let both = cli.run("ingest", "--format", "postfix", "--delivery", "nov", "--timezone", "UTC", "--utc-offset", "+01:00", log)
        #expect(both.exitCode != 0 && both.error.contains("not both"), "\(both.error)")
    }

    /// What is no Postfix log is refused, naming why, nothing appended: garbage with a blank line
    /// among it (the blank line let it pass as "0 events"), a line longer than 1 MiB (a binary
    /// file, `/dev/zero`: it was read up to the whole log's 512 MiB bound).
    @Test func whatIsNoPostfixLogIsRefused() throws {
        let cli = CLI()
        let junk = cli.file("junk.log", "hello\n\nworld\n")
        let r = cli.run("ingest", "--format", "postfix", "--delivery", "d1", junk)
        #expect(r.exitCode == 1 && r.error.contains("all 2 of its records are unparsable as postfix"), "\(r.error)")
        let long = cli.directory.path("long.log")
        var bytes = Array("Oct 10 15:59:30 mx postfix/smtp[1]: ABC: to=<a@example.com>, status=sent\n".utf8)
        bytes += [UInt8](repeating: 0, count: (1 << 20) + 10)
        _ = FileManager.default.createFile(atPath: long, contents: Data(bytes))
        let l = cli.run("ingest", "--format", "postfix", "--delivery", "d1", long)
        #expect(l.exitCode == 1 && l.error.contains("line 2") && l.error.contains("longer than 1 MiB"), "\(l.error)")
        #expect(!FileManager.default.fileExists(atPath: cli.db))
    }

    /// A UTF-8 byte order mark before a Postfix log or a bounce message is no part of it: the same
    /// events as without (it made the first line unreadable, and the message "not an email message").
    @Test func aByteOrderMarkIsSkipped() throws {
        let cli = CLI()
        for (name, options) in [("postfix/youyo-test.log", ["--format", "postfix", "--year", "2018"]),
                                ("sisimai/emails/lhost-postfix-01.eml", ["--format", "dsn"])] {
            let plain = try Array(Data(contentsOf: URL(fileURLWithPath: cli.corpus(name))))
            let marked = cli.directory.path("bom-" + (name as NSString).lastPathComponent)
            _ = FileManager.default.createFile(atPath: marked, contents: Data([0xEF, 0xBB, 0xBF] + plain))
            let a = cli.run(["ingest", "--dry-run", "--delivery", "d1"] + options + [try cli.corpus(name)])
            let b = cli.run(["ingest", "--dry-run", "--delivery", "d1"] + options + [marked])
            #expect(a.exitCode == 0 && b.exitCode == 0, "\(name): \(b.error)")
            let last = { (output: String) -> String in output.split(separator: "\n").last.map(String.init) ?? "" }
            #expect(last(a.output) == last(b.output) && last(a.output).contains("Checked"), "\(name): \(a.output) / \(b.output)")
        }
    }

    /// A negative offset is taken as the option's value, written as the help writes it
    /// (`--utc-offset -05:00`; it was "Missing value for '--utc-offset'", found by a tester):
    /// "Oct 10 15:59:30" at −05:00 is 20:59:30 UTC.
    @Test func postfixNegativeUTCOffset() throws {
        let cli = CLI()
        let log = try cli.corpus("postfix/youyo-test.log")
        let r = cli.run("ingest", "--format", "postfix", "--delivery", "nov", "--year", "2018", "--utc-offset", "-05:00", log)
        #expect(r.exitCode == 0, "\(r.error)")
        let status = cli.run("status", "test@example.to", "--format", "json")
        #expect(status.output.contains(#""occurredAt":"2018-10-10T20:59:30.000Z""#), "\(status.output)")
    }
}
