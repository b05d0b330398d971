import DeliveryLedger
import Foundation
import LedgerIngest
import LedgerTestSupport
import Testing

/// Issue #14: a delivery whose sending domain is misconfigured — every recipient answered with a
/// sender-side failure — ends with those recipients Failed and none of them in quarantine.
@Suite("Sender-side failures")
struct SenderSideFailureTests {
    static let recipients = ["ann@example.com", "bob@example.org", "cy@example.net"]

    static func lines() -> String {
        var out = [#"{"id":"d","kind":"delivery","delivery":"misconfigured","occurredAt":"2026-11-02T08:59:00Z","toDeliver":3}"#]
        for (i, r) in recipients.enumerated() {
            out.append(#"{"id":"r\#(i)","kind":"relay","delivery":"misconfigured","recipient":"\#(r)","occurredAt":"2026-11-02T09:00:00Z"}"#)
            // SparkPost class 25 (Admin Failure) with its "Unconfigured Sending Domain" text.
            out.append(#"{"id":"b\#(i)","kind":"bounce","delivery":"misconfigured","recipient":"\#(r)","occurredAt":"2026-11-02T09:00:05Z","final":true,"inBand":true,"bounceClass":25,"smtpCode":550,"enhancedStatus":"5.7.1","response":"550 5.7.1 Unconfigured Sending Domain <bounces.example.net>"}"#)
        }
        return out.joined(separator: "\n") + "\n"
    }

    @Test("every recipient Failed (Refused, soft), counted in the KPIs, none in quarantine; the address report says why")
    func misconfiguredSendingDomain() throws {
        let t = try TestLedger()
        let parsed = try FeedReader.read(Array(Self.lines().utf8), file: "misconfigured.jsonl", options: IngestOptions())
        _ = try t.ledger.append(parsed.events)
        let k = try #require(try t.ledger.kpis(delivery: "misconfigured", semantics: .classic))
        #expect(k.failed == 3 && k.bounced == 3 && k.relayed == 3)
        #expect(k.failedByReason[.refused] == 3)
        #expect(k.failedByType[.soft] == 3 && k.failedByType[.hard] == 0)
        #expect(try t.ledger.quarantined().isEmpty)
        for r in Self.recipients {
            let report = try #require(try t.ledger.addressStatus(r))
            #expect(report.state.status == .valid && report.state.errorCount == 0)
            #expect(report.state.notCounted.map(\.concerns) == [.sender])
        }
    }

    @Test("a sender-side failure stays listed as not counted after the address's errors reset (10 days) or a delivery")
    func notCountedSurvivesAReset() throws {
        let t = try TestLedger()
        let lines = [
            #"{"id":"r0","kind":"relay","delivery":"d1","recipient":"ann@example.com","occurredAt":"2026-11-02T09:00:00Z"}"#,
            #"{"id":"b0","kind":"bounce","delivery":"d1","recipient":"ann@example.com","occurredAt":"2026-11-02T09:00:05Z","final":true,"smtpCode":550,"enhancedStatus":"5.7.1","response":"550 5.7.1 Unconfigured Sending Domain <bounces.example.net>"}"#,
            #"{"id":"r1","kind":"relay","delivery":"d2","recipient":"ann@example.com","occurredAt":"2026-11-03T09:00:00Z"}"#,
            #"{"id":"b1","kind":"bounce","delivery":"d2","recipient":"ann@example.com","occurredAt":"2026-11-03T09:00:05Z","final":true,"smtpCode":550,"enhancedStatus":"5.2.2","response":"550 5.2.2 mailbox full"}"#,
        ]
        let parsed = try FeedReader.read(Array((lines.joined(separator: "\n") + "\n").utf8), file: "reset.jsonl", options: IngestOptions())
        _ = try t.ledger.append(parsed.events)
        // Before the reset: one counted soft error (position 4), the sender-side one (2) not counted.
        let before = try #require(try t.ledger.addressStatus("ann@example.com", asOf: at("2026-11-04T00:00:00Z")))
        #expect(before.state.status == .withErrors && before.state.errorCount == 1 && before.state.causes == [4])
        #expect(before.state.notCounted.map(\.position) == [2] && before.state.notCounted.map(\.concerns) == [.sender])
        // 10 days without a counted error reset the address to Valid (domain.md §6); position 2 is still explained.
        let after = try #require(try t.ledger.addressStatus("ann@example.com", asOf: at("2026-11-20T00:00:00Z")))
        #expect(after.state.status == .valid && after.state.errorCount == 0 && after.state.causes.isEmpty)
        #expect(after.state.notCounted.map(\.position) == [2] && after.state.notCounted.map(\.concerns) == [.sender])
    }

    @Test("class 25 about the recipient (the platform's suppression list) still quarantines at once")
    func suppressionListStillQuarantines() throws {
        let t = try TestLedger()
        let line = #"{"id":"b","kind":"bounce","delivery":"d","recipient":"ann@example.com","occurredAt":"2026-11-02T09:00:05Z","final":true,"bounceClass":25,"smtpCode":550,"response":"550 5.0.0 recipient address is on the suppression list"}"#
        let parsed = try FeedReader.read(Array((line + "\n").utf8), file: "s.jsonl", options: IngestOptions())
        _ = try t.ledger.append(parsed.events)
        let report = try #require(try t.ledger.addressStatus("ann@example.com"))
        #expect(report.state.status == .quarantine && report.state.reason == .addressInQuarantine)
    }

    /// An RFC 3464 report from KDDI's host (Remote-MTA) for an address outside KDDI's domains: only
    /// the remote host tells the filter from an unknown address.
    static let kddiReport = """
        From: MAILER-DAEMON@relay.sender.example
        To: bounces@sender.example
        Subject: Undelivered Mail Returned to Sender
        Date: Mon, 02 Nov 2026 10:00:00 +0000
        MIME-Version: 1.0
        Content-Type: multipart/report; report-type=delivery-status; boundary="b"

        --b
        Content-Type: text/plain

        Your message could not be delivered.

        --b
        Content-Type: message/delivery-status

        Reporting-MTA: dns; relay.sender.example

        Final-Recipient: rfc822; ann@forwarded.example
        Action: failed
        Status: 5.0.0
        Remote-MTA: dns; lsean.ezweb.ne.jp
        Diagnostic-Code: smtp; 550 : User unknown
        Last-Attempt-Date: Mon, 02 Nov 2026 09:59:00 +0000

        --b--
        """.replacingOccurrences(of: "\n", with: "\r\n")

    @Test("a host-aware qualification is read from the event's own fields: the same after a rebuild")
    func hostAwareSurvivesReprojection() throws {
        let parsed = try DSNReader.read(Array(Self.kddiReport.utf8), file: "kddi.eml", options: DSNOptions(delivery: "k"))
        let e = try #require(parsed.events.first)
        #expect(e.qualification == Qualification(.soft, .refused))
        #expect(e.qualifier?.hasSuffix("#kddi-filter-remote") == true)
        let t = try TestLedger()
        _ = try t.ledger.append(parsed.events)
        #expect(try t.ledger.kpis(delivery: "k", semantics: .classic)?.failedByReason[.refused] == 1)
        _ = try t.ledger.rebuildProjection()
        #expect(try t.ledger.kpis(delivery: "k", semantics: .classic)?.failedByReason[.refused] == 1)
        let stored = try #require(try t.ledger.events(delivery: "k", recipient: "ann@forwarded.example").first)
        #expect(QualificationContext(event: stored.event).remoteHost == "lsean.ezweb.ne.jp")
        #expect(QualificationContext(event: stored.event).reportingMTA == "relay.sender.example")
        #expect(TextQualifier.builtIn.qualify(event: stored.event).rule == "kddi-filter-remote")
    }

    @Test("an auto-reply without a delivery id is skipped and counted, not an error")
    func autoReplyWithoutDelivery() throws {
        let mail = """
            From: Ann <ann@example.com>
            To: news@sender.example
            Subject: Out of office: Spring sale
            Date: Mon, 02 Nov 2026 10:00:00 +0000
            Auto-Submitted: auto-replied
            Message-ID: <ooo-1@example.com>

            I am out of the office until Monday.
            """.replacingOccurrences(of: "\n", with: "\r\n")
        let parsed = try DSNReader.read(Array(mail.utf8), file: "ooo.eml", options: DSNOptions())
        #expect(parsed.events.isEmpty)
        #expect(parsed.skipped["auto-reply without delivery id"] == 1)
        // With a delivery id it is an autoReply event, as before.
        let withDelivery = try DSNReader.read(Array(mail.utf8), file: "ooo.eml", options: DSNOptions(delivery: "spring-sale"))
        #expect(withDelivery.events.map(\.kind) == [.autoReply])
    }
}
