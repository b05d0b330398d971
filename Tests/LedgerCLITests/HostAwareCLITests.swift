import DeliveryLedger
import Foundation
import LedgerTestSupport
import Testing

/// `ledger qualify` with a remote host and recipient, `ledger address` on sender-side failures, and
/// the hard-bounce rate in every output format (issue #14).
@Suite struct HostAwareCLITests {
    @Test("qualify --remote-host/--recipient shows the host-aware rule that decided; without them the generic rule")
    func qualifyWithHost() throws {
        let cli = CLI()
        let r = cli.run("qualify", "--format", "json", "--remote-host", "lsean.ezweb.ne.jp", "--recipient", "ann@ezweb.ne.jp", "550 : User unknown")
        #expect(r.exitCode == 0, "\(r.error)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [String: Any])
        #expect(doc["rule"] as? String == "kddi-filter-remote")
        #expect(doc["failureType"] as? String == "soft" && doc["failureReason"] as? String == "refused")
        #expect(doc["concerns"] as? String == "recipient")
        let generic = try #require(try JSONSerialization.jsonObject(with: Data(cli.run("qualify", "--format", "json", "550 : User unknown").output.utf8)) as? [String: Any])
        #expect(generic["rule"] as? String == "user-unknown-text" && generic["failureType"] as? String == "hard")
        let table = cli.run("qualify", "--reporting-mta", "inbound-smtp.us-west-2.amazonaws.com", "550 5.1.1 Mailbox does not exist")
        #expect(table.output.contains("ses-inbound-no-receipt-rule") && table.output.contains("host-aware"), "\(table.output)")
        #expect(table.output.contains("reporting MTA inbound-smtp.us-west-2.amazonaws.com"), "\(table.output)")
        let sender = cli.run("qualify", "550 5.7.1 Unconfigured Sending Domain <bounces.example.net>")
        #expect(sender.output.contains("the sender (never counts toward the address's quarantine)"), "\(sender.output)")
        // A text no rule matches is Not defined: it concerns the recipient but never counts (AddressStatus).
        let unmatched = cli.run("qualify", "hello")
        #expect(unmatched.output.contains("the recipient (a Not defined failure never counts toward the address's quarantine)"), "\(unmatched.output)")
        #expect(cli.run("qualify", "550 5.1.1 user unknown").output.contains("the recipient (counts toward the address's quarantine)"))
        #expect(cli.run("qualify", "--remote-host", "not a host", "x").exitCode != 0)
        // --return-path: the SES refusal of the envelope sender, as the DSN reader decides it.
        let ses = "5.1.0 - Unknown address error 550-'5.7.1 <bounce-7@bounces.example.com>... Access denied'"
        #expect(cli.run("qualify", "--format", "json", ses).output.contains(#""rule":"user-unknown-text""#))
        let withPath = cli.run("qualify", "--format", "json", ses, "--return-path", "bounce-7@bounces.example.com", "--recipient", "ann@example.org")
        #expect(withPath.output.contains(#""rule":"mail-command-reply""#) && withPath.output.contains(#""concerns":"sender""#), "\(withPath.output)")
        // --print-rules prints the built-in table, which loads back as the same table.
        let printed = cli.run("qualify", "--print-rules")
        #expect(printed.exitCode == 0)
        let copy = cli.file("copy.json", printed.output)
        #expect(try RuleTable.load(contentsOf: copy).digest == RuleTable.builtIn.digest)
        #expect(cli.run("qualify", "--print-rules", "x").exitCode != 0)
        // Without --remote-host, the host written before an address in the text, as ingest reads it
        // (found by a new user: qualify said User unknown where ingest said Refused).
        let fromText = cli.run("qualify", "--format", "json", "host lsean.ezweb.ne.jp[203.0.113.1] said: 550 : User unknown")
        #expect(fromText.output.contains(#""rule":"kddi-filter-remote""#), "\(fromText.output)")
        #expect(cli.run("qualify", "--recipient", "nobody", "x").exitCode != 0)
    }

    /// Only a stream's first record carries its recipient; re-qualifying a later event from the log
    /// must still see the recipient's domain, or a recipient-domain rule decides at append and not at
    /// re-projection: `verify` then reported a sound ledger as damaged and `ingest` refused it.
    @Test("a recipient-domain rule decides a stream's later events as it did when they were appended")
    func recipientDomainRuleOnLaterEvents() throws {
        let cli = CLI()
        // No code and a text no rule reads: only google-groups-recipient (recipientDomain) decides: Soft, Refused.
        let r = cli.ingest([
            #"{"id":"b1","kind":"bounce","delivery":"d1","recipient":"team@googlegroups.com","occurredAt":"2026-11-02T09:00:00Z","response":"Ihre Nachricht an die Gruppe wurde nicht zugestellt"}"#,
            #"{"id":"b2","kind":"bounce","delivery":"d1","recipient":"team@googlegroups.com","occurredAt":"2026-11-02T10:00:00Z","response":"Ihre Nachricht an die Gruppe wurde wieder nicht zugestellt"}"#,
        ])
        #expect(r.exitCode == 0, "\(r.error)")
        #expect(cli.run("verify").exitCode == 0)
        for _ in 0..<2 {
            let k = try cli.kpis("d1", "classic")
            #expect(k["failed"] as? Int == 1)
            #expect((k["failedByReason"] as? [String: Any])?["refused"] as? Int == 1)
            #expect((k["failedByType"] as? [String: Any])?["soft"] as? Int == 1)
            #expect(cli.run("reproject").exitCode == 0)   // the fold from the log gives the same
        }
        #expect(cli.run("verify").exitCode == 0)
    }

    @Test("qualify --smtp-command / a command named in the text, and --bounce-category: the deciding rule and the command it read")
    func qualifyWithCommand() throws {
        let cli = CLI()
        let found = cli.run("qualify", "550 5.2.1 <ann@example.com>... User Unknown (in reply to RCPT TO command)")
        #expect(found.exitCode == 0, "\(found.error)")
        #expect(found.output.contains("user-unknown-disabled-status") && found.output.contains("at RCPT"), "\(found.output)")
        #expect(found.output.contains("RCPT (read from the text)"), "\(found.output)")
        let given = try #require(try JSONSerialization.jsonObject(with: Data(cli.run("qualify", "--format", "json", "--smtp-command", "rcpt",
                                                                                       "550 5.2.1 <ann@example.com>... User Unknown").output.utf8)) as? [String: Any])
        #expect(given["rule"] as? String == "user-unknown-disabled-status" && given["failureType"] as? String == "hard")
        #expect(given["smtpCommand"] as? String == "RCPT")
        let none = try #require(try JSONSerialization.jsonObject(with: Data(cli.run("qualify", "--format", "json",
                                                                                      "550 5.2.1 <ann@example.com>... User Unknown").output.utf8)) as? [String: Any])
        #expect(none["rule"] as? String == "disabled-status" && none["failureReason"] as? String == "accountDisabled")
        #expect(none["smtpCommand"] is NSNull)
        let category = cli.run("qualify", "--bounce-category", "bad-mailbox", "550 5.2.1 <ann@example.com>... User Unknown")
        #expect(category.output.contains("powermta-bad-mailbox") && category.output.contains("bounce category bad-mailbox"), "\(category.output)")
        #expect(cli.run("qualify", "--smtp-command", "RCPT TO", "x").exitCode != 0)
        #expect(cli.run("qualify", "--bounce-category", "bad mailbox", "x").exitCode != 0)
    }

    static let misconfigured = [
        #"{"id":"d","kind":"delivery","delivery":"m","occurredAt":"2026-11-02T08:59:00Z","toDeliver":2}"#,
        #"{"id":"r1","kind":"relay","delivery":"m","recipient":"ann@example.com","occurredAt":"2026-11-02T09:00:00Z"}"#,
        #"{"id":"r2","kind":"relay","delivery":"m","recipient":"bob@example.com","occurredAt":"2026-11-02T09:00:00Z"}"#,
        #"{"id":"b1","kind":"bounce","delivery":"m","recipient":"ann@example.com","occurredAt":"2026-11-02T09:00:05Z","final":true,"bounceClass":25,"smtpCode":550,"response":"550 5.7.1 Unconfigured Sending Domain <bounces.example.net>"}"#,
        #"{"id":"b2","kind":"bounce","delivery":"m","recipient":"bob@example.com","occurredAt":"2026-11-02T09:00:05Z","final":true,"bounceClass":10,"smtpCode":550,"enhancedStatus":"5.1.1","response":"550 5.1.1 user unknown"}"#,
    ]

    @Test("address explains a failure that concerns the sender; quarantine lists only the recipient failure")
    func addressExplains() throws {
        let cli = CLI()
        #expect(cli.ingest(Self.misconfigured).exitCode == 0)
        let ann = cli.run("address", "ann@example.com")
        #expect(ann.exitCode == 0, "\(ann.error)")
        #expect(ann.output.contains("ann@example.com: Valid"), "\(ann.output)")
        #expect(ann.output.contains("Not counted: 1 failure(s)"), "\(ann.output)")
        #expect(ann.output.contains("✗") && ann.output.contains("concerns the sender, not the address"), "\(ann.output)")
        // The JSON document says the same: b1 is position 4 (delivery, two relays, then b1).
        let json = cli.run("address", "ann@example.com", "--format", "json")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any])
        let notCounted = try #require(doc["notCounted"] as? [[String: Any]])
        #expect(notCounted.count == 1 && notCounted.first?["position"] as? Int == 4 && notCounted.first?["concerns"] as? String == "sender", "\(json.output)")
        let quarantine = cli.run("quarantine")
        #expect(quarantine.output.contains("bob@example.com") && !quarantine.output.contains("ann@example.com"), "\(quarantine.output)")
    }

    @Test("the hard-bounce rate is in JSON, CSV and the table: 1 hard bounce of 2 relayed")
    func hardBounceRateEverywhere() throws {
        let cli = CLI()
        #expect(cli.ingest(Self.misconfigured).exitCode == 0)
        let k = try cli.kpis("m", "classic")
        #expect(k["hardBounced"] as? Int == 1)
        #expect(k["hardBounceRate"] as? Double == 0.5)
        #expect(k["bounceRate"] as? Double == 1.0)
        let csv = cli.run("project", "--format", "csv").output.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let header = try #require(csv.first)
        let row = try #require(csv.dropFirst().first { $0.first == "m" && $0[1] == "classic" })
        let hb = try #require(header.firstIndex(of: "hardBounced")), rate = try #require(header.firstIndex(of: "hardBounceRate"))
        #expect(row[hb] == "1" && row[rate] == "0.5")
        let table = cli.run("project", "--classic", "--delivery", "m").output
        #expect(table.contains("Hard bounce rate (of relayed)"), "\(table)")
        #expect(table.contains("50"), "\(table)")
    }
}
