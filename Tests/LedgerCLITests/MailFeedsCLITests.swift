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
