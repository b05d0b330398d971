import DeliveryLedger
import Foundation
import Testing
@testable import LedgerIngest

/// Bounce messages written for these tests (example.com / example.org / example.net addresses).
enum DSNSamples {
    static let boundary = "4F1A2B3C.1762078500/mx.example.net"

    /// A Postfix-style RFC 3464 report for one recipient; the parts can be varied.
    static func report(action: String = "failed", status: String = "5.1.1",
                       diagnostic: String? = "smtp; 550 5.1.1 <ann@example.org>: Recipient address rejected:\n    User unknown in virtual mailbox table",
                       extraFields: String = "", recipient: String = "ann@example.org",
                       notification: String = "<ann@example.org>: host mx.example.org[192.0.2.10] said: 550 5.1.1\n    <ann@example.org>: Recipient address rejected: User unknown in virtual\n    mailbox table (in reply to RCPT TO command)",
                       returned: String? = "From: news@example.com\nTo: ann@example.org\nSubject: Spring sale\nX-Delivery-ID: spring-sale",
                       ownHeaders: String = "") -> String {
        var fields = "Final-Recipient: rfc822; \(recipient)\nOriginal-Recipient: rfc822;\(recipient)\nAction: \(action)\nStatus: \(status)\nRemote-MTA: dns; mx.example.org\n"
        if let d = diagnostic { fields += "Diagnostic-Code: \(d)\n" }
        fields += "Last-Attempt-Date: Mon, 2 Nov 2026 10:14:58 +0000\n" + extraFields
        var s = """
            From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
            To: news@example.com
            Subject: Undelivered Mail Returned to Sender
            Date: Mon, 2 Nov 2026 10:15:00 +0000
            Auto-Submitted: auto-replied
            \(ownHeaders)MIME-Version: 1.0
            Content-Type: multipart/report; report-type=delivery-status;
            \tboundary="\(boundary)"

            This is a MIME-encapsulated message.

            --\(boundary)
            Content-Description: Notification
            Content-Type: text/plain; charset=us-ascii

            This is the mail system at host mx.example.net.

            I'm sorry to have to inform you that your message could not
            be delivered to one or more recipients.

            \(notification)

            --\(boundary)
            Content-Description: Delivery report
            Content-Type: message/delivery-status

            Reporting-MTA: dns; mx.example.net
            X-Postfix-Queue-ID: 4F1A2B3C
            Arrival-Date: Mon, 2 Nov 2026 10:14:00 +0000

            \(fields)
            """
        if let returned {
            s += "\n--\(boundary)\nContent-Description: Undelivered Message Headers\nContent-Type: text/rfc822-headers\n\n\(returned)\n"
        }
        s += "\n--\(boundary)--\n"
        return s
    }

    static let outOfOffice = """
        From: Ann Example <ann@example.org>
        To: news@example.com
        Subject: Out of Office: Spring sale
        Date: Tue, 3 Nov 2026 08:00:00 +0100
        Auto-Submitted: auto-replied
        In-Reply-To: <spring-sale-1@example.com>
        Content-Type: text/plain; charset=utf-8

        I am out of the office until November 9th and will answer your message on my return.
        """

    static let arf = """
        From: feedback@fbl.example.net
        To: abuse@example.com
        Subject: Abuse report
        Date: Wed, 4 Nov 2026 12:00:00 +0000
        MIME-Version: 1.0
        Content-Type: multipart/report; report-type=feedback-report; boundary="ARF1"

        --ARF1
        Content-Type: text/plain; charset=us-ascii

        This is an email abuse report for a message received from IP 192.0.2.25.

        --ARF1
        Content-Type: message/feedback-report

        Feedback-Type: abuse
        User-Agent: ExampleFBL/1.0
        Version: 1
        Original-Mail-From: <news@example.com>
        Original-Rcpt-To: <ann@example.org>
        Arrival-Date: Wed, 4 Nov 2026 11:58:00 +0000
        Source-IP: 192.0.2.25

        --ARF1
        Content-Type: message/rfc822

        From: news@example.com
        To: ann@example.org
        Subject: Spring sale
        X-Delivery-ID: spring-sale
        Date: Mon, 2 Nov 2026 10:00:00 +0000

        Our spring sale starts now.
        --ARF1--
        """

    static let qmail = """
        From: MAILER-DAEMON@mail.example.net
        To: news@example.com
        Subject: failure notice
        Date: 2 Nov 26 10:20:00 GMT

        Hi. This is the qmail-send program at mail.example.net.
        I'm afraid I wasn't able to deliver your message to the following addresses.
        This is a permanent error; I've given up. Sorry it didn't work out.

        <bob@example.org>:
        192.0.2.20 does not like recipient.
        Remote host said: 550 5.1.1 <bob@example.org>: No such user here
        Giving up on 192.0.2.20.

        --- Below this line is a copy of the message.

        Return-Path: <news@example.com>
        Received: (qmail 1234 invoked by uid 0); 2 Nov 2026 10:19:00 -0000
        From: news@example.com
        To: bob@example.org
        Subject: Spring sale
        X-Delivery-ID: spring-sale

        Our spring sale starts now.
        """
}

func dsnRead(_ text: String, file: String = "bounce.eml", options: DSNOptions = DSNOptions()) throws(IngestError) -> ParsedInput {
    try DSNReader.read(Array(text.utf8), file: file, options: options)
}

@Suite("DSN reader")
struct DSNReaderTests {
    let version = RuleTable.builtIn.version

    @Test("RFC 3464 Postfix report, failed 5.1.1: final asynchronous bounce, hard, User unknown")
    func postfixUserUnknown() throws {
        let text = DSNSamples.report()
        let parsed = try dsnRead(text)
        #expect(parsed.format == .dsn)
        #expect(parsed.rejected.isEmpty && parsed.skipped.isEmpty)
        let e = try #require(parsed.events.first)
        #expect(parsed.events.count == 1)
        #expect(e.kind == .bounce && e.final && e.inBand == false && !e.beforeRelay)
        #expect(e.qualification == Qualification(.hard, .userUnknown))
        #expect(e.qualifier == "\(version)#user-unknown-status")
        #expect(e.smtpCode == 550)
        #expect(e.enhancedStatus == "5.1.1")
        // The human-readable part names the SMTP command the reply answered; its words are added
        // (DSNReader: the rule table's smtpCommand conditions read them).
        #expect(e.response == "550 5.1.1 <ann@example.org>: Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command)")
        #expect(e.delivery == "spring-sale")
        #expect(e.recipient == "ann@example.org")
        #expect(e.occurredAt == at("2026-11-02T10:14:58Z"))
        #expect(e.source == .dsn)
        // The raw record is the report's per-message fields, an empty line, then the per-recipient
        // block, each as it appears in the report (host-aware rules read Reporting-MTA and Remote-MTA).
        let raw = String(decoding: e.raw, as: UTF8.self)
        #expect(raw.hasPrefix("Reporting-MTA: dns; mx.example.net"))
        let parts = raw.components(separatedBy: "\n\n")
        #expect(parts.count == 2)
        #expect(parts.last?.hasPrefix("Final-Recipient: rfc822; ann@example.org") == true)
        #expect(raw.hasSuffix("Last-Attempt-Date: Mon, 2 Nov 2026 10:14:58 +0000"))
        for part in parts { #expect(Array(text.utf8).contains(bytes: Array(part.utf8))) }
        try e.validate()
    }

    @Test("event id: dsn: + 32 hex digits of the message's SHA-256 + : + recipient index; stable")
    func eventIds() throws {
        let a = try dsnRead(DSNSamples.report()).events[0].id
        #expect(a == (try dsnRead(DSNSamples.report()).events[0].id))
        let parts = a.split(separator: ":")
        #expect(parts.count == 3 && parts[0] == "dsn" && parts[2] == "1")
        #expect(parts[1].count == 32 && parts[1].allSatisfy { $0.isHexDigit && !$0.isUppercase })
        #expect(a != (try dsnRead(DSNSamples.report(status: "5.1.2")).events[0].id))
    }

    @Test("Status 5.0.0 with a diagnostic '550 … User unknown' → User unknown, hard")
    func genericStatusSpecificDiagnostic() throws {
        let e = try dsnRead(DSNSamples.report(status: "5.0.0", diagnostic: "smtp; 550 <ann@example.org>... User unknown",
                                              notification: "<ann@example.org>... User unknown")).events[0]
        #expect(e.qualification == Qualification(.hard, .userUnknown))
        #expect(e.qualifier == "\(version)#user-unknown-text")
        #expect(e.smtpCode == 550)
        // The diagnostic's own code beats the generic Status.
        let f = try dsnRead(DSNSamples.report(status: "5.0.0", diagnostic: "smtp; 552 5.2.2 <ann@example.org>: Mailbox full")).events[0]
        #expect(f.enhancedStatus == "5.2.2")
        #expect(f.qualification == Qualification(.soft, .mailboxFull))
    }

    @Test("a folded Diagnostic-Code is unfolded into one line")
    func foldedDiagnostic() throws {
        let e = try dsnRead(DSNSamples.report(status: "5.7.1", diagnostic: "smtp; 554 5.7.1 Service unavailable;\n\tClient host [203.0.113.9]\n    blocked using zen.spamhaus.org")).events[0]
        #expect(e.response == "554 5.7.1 Service unavailable; Client host [203.0.113.9] blocked using zen.spamhaus.org (in reply to RCPT TO command)")
        #expect(e.qualification == Qualification(.soft, .refused))
        #expect(e.enhancedStatus == "5.7.1")
    }

    @Test("Action: delayed → retry (not final, soft)")
    func delayed() throws {
        let e = try dsnRead(DSNSamples.report(action: "delayed", status: "4.4.1",
                                              diagnostic: "X-Postfix; connect to mx.example.org[192.0.2.10]:25: Connection timed out",
                                              extraFields: "Will-Retry-Until: Sat, 7 Nov 2026 10:14:00 +0000\n")).events[0]
        #expect(e.kind == .retry && !e.final)
        #expect(e.qualification == Qualification(.soft, .unreachable))
        #expect(e.enhancedStatus == "4.4.1")
    }

    @Test("a plain-text report with one block per recipient: a block that says too little never takes another recipient's reply")
    func plainTextBlocksDoNotBleed() throws {
        // qmail's format (qmail-send's bounce: "<address>:" then its reason, blocks apart).
        let text = """
            Return-Path: <>
            Date: 3 Nov 2026 11:00:02 -0000
            From: MAILER-DAEMON@mta3.example.com
            To: bounces@example.com
            Subject: failure notice

            Hi. This is the qmail-send program at mta3.example.com.
            I'm afraid I wasn't able to deliver your message to the following addresses.
            This is a permanent error; I've given up. Sorry it didn't work out.

            <olga@example.net>:
            203.0.113.9 does not like recipient.
            Remote host said: 550 5.1.1 <olga@example.net>: Recipient address rejected: User unknown in local recipient table
            Giving up on 203.0.113.9.

            <tom@example.org>:
            This address no longer accepts mail.

            <sam@example.org>:
            I'm not going to try again; this message has been in the queue too long.

            --- Below this line is a copy of the message.

            Return-Path: <bounces@example.com>
            From: News <news@example.com>
            To: olga@example.net, tom@example.org, sam@example.org
            Subject: November
            X-Delivery-ID: D1

            Hello.
            """
        let events = try dsnRead(text).events
        let byRecipient = Dictionary(uniqueKeysWithValues: events.map { ($0.recipient, $0) })
        let olga = try #require(byRecipient["olga@example.net"])
        #expect(olga.qualification == Qualification(.hard, .userUnknown) && olga.enhancedStatus == "5.1.1")
        // tom's block names no code and no known reason: not olga's 5.1.1 (it was hard User unknown, quarantining tom).
        let tom = try #require(byRecipient["tom@example.org"])
        #expect(tom.enhancedStatus == nil && tom.qualification?.reason != .userUnknown)
        #expect(tom.response?.contains("olga") == false)
        // sam's block says the queue time ran out: a timeout, with no reason of olga's.
        let sam = try #require(byRecipient["sam@example.org"])
        #expect(sam.kind == .timeout && sam.enhancedStatus == nil)
        #expect(sam.qualification == Qualification(.soft, .unreachable))
    }

    @Test("no Action field (RFC 3464 §2.3.3 requires one): a 4.x.x recipient with Will-Retry-Until is delayed (§2.3.8), not a final timeout")
    func missingActionWithWillRetryUntil() throws {
        let text = DSNSamples.report(status: "4.2.0", diagnostic: "smtp; 450 4.2.0 <ann@example.org>: Mailbox busy",
                                     extraFields: "Will-Retry-Until: Sat, 7 Nov 2026 10:14:00 +0000\n")
            .replacingOccurrences(of: "Action: failed\n", with: "")
        let e = try #require(try dsnRead(text).events.first)
        #expect(e.kind == .retry && !e.final)
        #expect(e.qualification?.type == .soft)
        // Without Will-Retry-Until, the notification's failure wording ("could not be delivered") decides: failed.
        let without = DSNSamples.report(status: "4.2.0", diagnostic: "smtp; 450 4.2.0 <ann@example.org>: Mailbox busy")
            .replacingOccurrences(of: "Action: failed\n", with: "")
        #expect(try dsnRead(without).events.first?.kind == .timeout)
    }

    @Test("Action: delivered / relayed / expanded → delivered (RFC 3464 §2.3.3)")
    func deliveredRelayedExpanded() throws {
        let d = try dsnRead(DSNSamples.report(action: "delivered", status: "2.0.0", diagnostic: "smtp; 250 2.0.0 Ok: queued as 12345")).events[0]
        #expect(d.kind == .delivered && d.qualification == nil && d.smtpCode == 250 && d.enhancedStatus == "2.0.0")
        // The report's human-readable part speaks of a failure (the sample's notification): the
        // delivered recipient keeps its own diagnostic, not that text (RFC 3464 §2.1).
        #expect(d.response == "250 2.0.0 Ok: queued as 12345")
        let r = try dsnRead(DSNSamples.report(action: "relayed", status: "2.0.0", diagnostic: nil)).events[0]
        #expect(r.kind == .delivered)
        let x = try dsnRead(DSNSamples.report(action: "expanded", status: "2.0.0", diagnostic: nil))
        #expect(x.events.map(\.kind) == [.delivered] && x.skipped.isEmpty)
    }

    @Test("failed with X.4.7 → timeout (final, soft), carrying the last error's reason")
    func expired() throws {
        let e = try dsnRead(DSNSamples.report(status: "4.4.7", diagnostic: "smtp; 452 4.2.2 <ann@example.org>: Mailbox full",
                                              notification: "<ann@example.org>: delivery time expired")).events[0]
        #expect(e.kind == .timeout && e.final)
        #expect(e.qualification == Qualification(.soft, .mailboxFull))
        let bare = try dsnRead(DSNSamples.report(status: "5.4.7", diagnostic: nil, notification: "message expired")).events[0]
        #expect(bare.kind == .timeout)
        #expect(bare.qualification == Qualification(.soft, .unreachable))
        // The non-standard `Action: expired` is a timeout too.
        #expect(try dsnRead(DSNSamples.report(action: "expired", status: "4.4.1", diagnostic: "smtp; connection timed out")).events[0].kind == .timeout)
    }

    /// domain.md §1: "DSN `Action: failed` + 4.x.x" is a timeout (the MTA gave up after temporary
    /// errors), soft, with the last error's reason; when the diagnostic's own reply is permanent
    /// (550 5.5.0 under `Status: 4.5.0`), the last attempt was refused for good: a final bounce.
    @Test("a temporary result on a failed action is a timeout, never hard; a permanent diagnostic under it a bounce")
    func temporaryButGaveUp() throws {
        let e = try dsnRead(DSNSamples.report(status: "4.1.1", diagnostic: "smtp; 450 4.1.1 <ann@example.org>: Recipient address rejected: User unknown")).events[0]
        #expect(e.kind == .timeout && e.final)
        #expect(e.qualification == Qualification(.soft, .userUnknown))
        let p = try dsnRead(DSNSamples.report(status: "4.5.0", diagnostic: "smtp; 550 5.5.0 Service refused, please try later")).events[0]
        #expect(p.kind == .bounce && p.final)
    }

    @Test("delivery id: returned message's header, else the bounce's own, else the option, else an error naming the header")
    func deliveryId() throws {
        // The returned message wins over the bounce's own header.
        #expect(try dsnRead(DSNSamples.report(ownHeaders: "X-Delivery-ID: own-header\n")).events[0].delivery == "spring-sale")
        let noReturn = DSNSamples.report(returned: nil, ownHeaders: "X-Delivery-ID: own-header\n")
        #expect(try dsnRead(noReturn).events[0].delivery == "own-header")
        // A non-ASCII id arrives as an RFC 2047 encoded word (X- fields are unstructured, §5(1)):
        // the id is its decoded text, in the returned message as in the bounce's own header.
        let encoded = DSNSamples.report(returned: "From: news@example.com\nX-Delivery-ID: =?UTF-8?B?c3ByaW5nLcOpdMOp?=")
        #expect(try dsnRead(encoded).events[0].delivery == "spring-été")
        let encodedOwn = DSNSamples.report(returned: nil, ownHeaders: "X-Delivery-ID: =?ISO-8859-1?Q?f=EAte?=\n")
        #expect(try dsnRead(encodedOwn).events[0].delivery == "fête")
        let none = DSNSamples.report(returned: "From: news@example.com\nTo: ann@example.org")
        #expect(try dsnRead(none, options: DSNOptions(delivery: "fallback")).events[0].delivery == "fallback")
        do {
            _ = try dsnRead(none, file: "b.eml")
            Issue.record("a bounce without delivery id must be an error")
        } catch {
            #expect(error.field == "X-Delivery-ID")
            #expect(error.file == "b.eml")
            #expect(error.description.contains("X-Delivery-ID"))
        }
        // Another header name.
        let custom = DSNSamples.report(returned: "From: news@example.com\nX-Campaign: autumn")
        #expect(try dsnRead(custom, options: DSNOptions(deliveryHeader: "X-Campaign")).events[0].delivery == "autumn")
        // A returned message/rfc822 part works like text/rfc822-headers.
        let full = DSNSamples.report(returned: nil).replacingOccurrences(of: "\n--\(DSNSamples.boundary)--\n", with: """

            --\(DSNSamples.boundary)
            Content-Type: message/rfc822

            From: news@example.com
            X-Delivery-ID: from-rfc822

            Body.
            --\(DSNSamples.boundary)--

            """)
        #expect(try dsnRead(full).events[0].delivery == "from-rfc822")
    }

    @Test("an out-of-office reply → autoReply from its sender, without qualification")
    func outOfOffice() throws {
        let parsed = try dsnRead(DSNSamples.outOfOffice, options: DSNOptions(delivery: "spring-sale"))
        let e = try #require(parsed.events.first)
        #expect(parsed.events.count == 1)
        #expect(e.kind == .autoReply && e.recipient == "ann@example.org" && e.qualification == nil)
        #expect(e.occurredAt == at("2026-11-03T07:00:00Z"))
        #expect(e.delivery == "spring-sale")
        // A vacation subject alone is enough; a bounce with Auto-Submitted stays a bounce.
        let vacation = DSNSamples.outOfOffice.replacingOccurrences(of: "Auto-Submitted: auto-replied\n", with: "")
            .replacingOccurrences(of: "Out of Office", with: "Automatic reply")
        #expect(try dsnRead(vacation, options: DSNOptions(delivery: "d")).events.first?.kind == .autoReply)
        #expect(try dsnRead(DSNSamples.report()).events.first?.kind == .bounce)
    }

    @Test("an ARF feedback report → complaint for Original-Rcpt-To, delivery from the returned message")
    func arfComplaint() throws {
        let parsed = try dsnRead(DSNSamples.arf)
        let e = try #require(parsed.events.first)
        #expect(parsed.events.count == 1)
        #expect(e.kind == .complaint && e.recipient == "ann@example.org" && e.delivery == "spring-sale")
        #expect(e.occurredAt == at("2026-11-04T11:58:00Z"))
        #expect(e.qualification == nil)
    }

    @Test("an Amazon SES notification in an SNS email-json envelope (Message as a JSON string, folded with '!') → its bounce")
    func sesInsideAnSNSEnvelope() throws {
        let inner = #"{"notificationType":"Bounce","bounce":{"bounceType":"Permanent","bounceSubType":"General","bouncedRecipients":[{"emailAddress":"ann@example.org","action":"failed","status":"5.1.1","diagnosticCode":"smtp; 550 5.1.1 user unknown"}],"timestamp":"2026-11-02T10:00:01.000Z"},"mail":{"timestamp":"2026-11-02T10:00:00.000Z","headers":[{"name":"X-Delivery-ID","value":"spring-sale"}]}}"#
        var escaped = ""
        for c in inner { escaped += c == "\"" ? "\\\"" : String(c) }
        // The mail system folded the long line: "!" + line break + space (as SNS e-mail arrives).
        let cut = escaped.index(escaped.startIndex, offsetBy: 120)
        let folded = escaped[..<cut] + "!\n " + escaped[cut...]
        let email = "From: AWS Notifications <no-reply@sns.amazonaws.com>\nTo: bounces@example.com\nSubject: AWS Notification Message\n"
            + "Date: Mon, 2 Nov 2026 10:00:02 +0000\nContent-Type: text/plain; charset=UTF-8\n\n"
            + "{\n  \"Type\" : \"Notification\",\n  \"MessageId\" : \"m-1\",\n  \"Message\" : \"\(folded)\",\n  \"Timestamp\" : \"2026-11-02T10:00:02.000Z\"\n}\n"
        let parsed = try dsnRead(email)
        let e = try #require(parsed.events.first)
        #expect(parsed.events.count == 1)
        #expect(e.kind == .bounce && e.recipient == "ann@example.org" && e.delivery == "spring-sale")
        #expect(e.qualification == Qualification(.hard, .userUnknown))
        #expect(e.occurredAt == at("2026-11-02T10:00:01Z"))
    }

    @Test("ARF auth-failure (RFC 6591) and not-spam reports are skipped and counted, never a complaint")
    func arfThatIsNoComplaint() throws {
        for type in ["auth-failure", "not-spam", "Auth-Failure"] {
            let parsed = try dsnRead(DSNSamples.arf.replacingOccurrences(of: "Feedback-Type: abuse", with: "Feedback-Type: \(type)"))
            #expect(parsed.events.isEmpty, "\(type)")
            #expect(parsed.skipped["feedback report \(type.lowercased())"] == 1, "\(parsed.skipped)")
        }
        // The user complaint types stay complaints (RFC 5965 §7.3).
        for type in ["abuse", "fraud", "virus", "other"] {
            let parsed = try dsnRead(DSNSamples.arf.replacingOccurrences(of: "Feedback-Type: abuse", with: "Feedback-Type: \(type)"))
            #expect(parsed.events.first?.kind == .complaint, "\(type)")
        }
    }

    @Test("a plain-text qmail bounce → final bounce, hard, User unknown; delivery id from the quoted original")
    func plainTextBounce() throws {
        let parsed = try dsnRead(DSNSamples.qmail)
        let e = try #require(parsed.events.first)
        #expect(parsed.events.count == 1)
        #expect(e.kind == .bounce && e.final && e.inBand == false)
        #expect(e.recipient == "bob@example.org")
        #expect(e.qualification == Qualification(.hard, .userUnknown))
        #expect(e.enhancedStatus == "5.1.1" && e.smtpCode == 550)
        #expect(e.delivery == "spring-sale")
        #expect(e.occurredAt == at("2026-11-02T10:20:00Z"))
        #expect(e.raw == Array(DSNSamples.qmail.utf8))
    }

    @Test("Exim bounce: X-Failed-Recipients names the recipients")
    func eximBounce() throws {
        let text = """
            From: Mail Delivery System <Mailer-Daemon@mx.example.net>
            To: news@example.com
            Subject: Mail delivery failed: returning message to sender
            Date: Mon, 02 Nov 2026 10:30:00 +0000
            X-Failed-Recipients: carol@example.org

            This message was created automatically by mail delivery software.

            A message that you sent could not be delivered to one or more of its
            recipients. This is a permanent error. The following address(es) failed:

              carol@example.org
                SMTP error from remote mail server after RCPT TO:<carol@example.org>:
                host mx.example.org [192.0.2.30]: 552 5.2.2 Mailbox quota exceeded

            ------ This is a copy of the message, including all the headers. ------

            From: news@example.com
            To: carol@example.org
            X-Delivery-ID: spring-sale
            """
        let e = try #require(try dsnRead(text).events.first)
        #expect(e.recipient == "carol@example.org" && e.kind == .bounce)
        #expect(e.qualification == Qualification(.soft, .mailboxFull))
        #expect(e.delivery == "spring-sale")
    }

    @Test("recipient blocks without the empty line between them, and Original-Recipient as fallback")
    func recipientBlocks() throws {
        let extra = "Final-Recipient: rfc822; bob@example.org\nAction: failed\nStatus: 5.2.2\nDiagnostic-Code: smtp; 552 5.2.2 Mailbox full\n"
        let parsed = try dsnRead(DSNSamples.report(extraFields: extra))
        #expect(parsed.events.map(\.recipient) == ["ann@example.org", "bob@example.org"])
        #expect(parsed.events.map(\.id.last) == ["1", "2"])
        #expect(parsed.events[1].qualification == Qualification(.soft, .mailboxFull))
        let original = DSNSamples.report().replacingOccurrences(of: "Final-Recipient: rfc822; ann@example.org\n", with: "")
        #expect(try dsnRead(original).events.first?.recipient == "ann@example.org")
    }

    @Test("CRLF line ends, quoted-printable and base64 report parts")
    func encodings() throws {
        let crlf = DSNSamples.report().replacingOccurrences(of: "\n", with: "\r\n")
        let e = try #require(try dsnRead(crlf).events.first)
        #expect(e.qualification == Qualification(.hard, .userUnknown) && e.delivery == "spring-sale")
        #expect(e.response == "550 5.1.1 <ann@example.org>: Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command)")

        let fields = "Reporting-MTA: dns; mx.example.net\n\nFinal-Recipient: rfc822; ann@example.org\nAction: failed\nStatus: 5.2.2\nDiagnostic-Code: smtp; 552 5.2.2 Mailbox full\n"
        let base64 = Data(fields.utf8).base64EncodedString(options: [.lineLength76Characters, .endLineWithLineFeed])
        let encoded = """
            From: MAILER-DAEMON@mx.example.net
            To: news@example.com
            Subject: Delivery Status Notification (Failure)
            Date: Mon, 2 Nov 2026 11:00:00 +0000
            X-Delivery-ID: d1
            Content-Type: multipart/report; report-type=delivery-status; boundary=XYZ

            --XYZ
            Content-Type: text/plain; charset=utf-8
            Content-Transfer-Encoding: quoted-printable

            Your message to ann@example.org couldn=E2=80=99t be delivered: the mailbox=
             is full.
            --XYZ
            Content-Type: message/delivery-status
            Content-Transfer-Encoding: base64

            \(base64)
            --XYZ--
            """
        let b = try #require(try dsnRead(encoded).events.first)
        #expect(b.qualification == Qualification(.soft, .mailboxFull) && b.recipient == "ann@example.org")
        #expect(b.occurredAt == at("2026-11-02T11:00:00Z"))
    }

    @Test("bad input: not an email, binary data, empty file → errors, or rejected records with skipInvalid")
    func badInput() throws {
        let inputs: [(String, [UInt8])] = [
            ("plain text", Array("just some words\nwithout any header\n".utf8)),
            ("empty", []),
            ("binary", (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7919 &+ ($0 >> 3)) }),
            ("json", Array(#"{"kind":"bounce"}"#.utf8)),
            ("headers, no bounce", Array("From: ann@example.org\nTo: bob@example.org\nSubject: lunch?\nDate: Mon, 2 Nov 2026 10:00:00 +0000\n\nNoon?\n".utf8)),
        ]
        for (name, bytes) in inputs {
            do {
                let parsed = try DSNReader.read(bytes, file: "\(name).eml", options: DSNOptions(delivery: "d"))
                Issue.record("\(name): expected an IngestError, got \(parsed.events.count) events")
            } catch {
                #expect(error.file == "\(name).eml")
                #expect(!error.message.isEmpty)
            }
            let skipped = try DSNReader.read(bytes, file: "\(name).eml", options: DSNOptions(delivery: "d", skipInvalid: true))
            #expect(skipped.events.isEmpty && skipped.rejected.count == 1, "\(name)")
            #expect(skipped.rejected.first?.raw == bytes)
        }
    }

    @Test("a stray NUL byte after the headers does not make a bounce binary")
    func strayNul() throws {
        let bytes = Array(DSNSamples.qmail.utf8) + [0, 0x0A]
        #expect(try DSNReader.read(bytes, file: "nul.eml").events.count == 1)
    }

    @Test("truncated multipart: cut before the report → error; cut after it → read as far as it goes")
    func truncatedMultipart() throws {
        let full = DSNSamples.report()
        let cutEarly = String(full[..<full.range(of: "This is the mail system")!.lowerBound])
        #expect(throws: IngestError.self) { try dsnRead(cutEarly, options: DSNOptions(delivery: "d")) }
        let cutLate = String(full[..<full.range(of: "Content-Description: Undelivered Message Headers")!.lowerBound])
        let parsed = try dsnRead(cutLate, options: DSNOptions(delivery: "d"))
        #expect(parsed.events.count == 1 && parsed.events[0].qualification == Qualification(.hard, .userUnknown))
        // Every prefix of the message reads or fails cleanly.
        let bytes = Array(full.utf8)
        for end in stride(from: 0, through: bytes.count, by: 23) {
            _ = try? DSNReader.read(Array(bytes[..<end]), file: "cut.eml", options: DSNOptions(delivery: "d"))
        }
    }

    @Test("missing boundary: an error when no delimiter can be found, recovered when the body has one")
    func missingBoundary() throws {
        let noDelimiters = """
            From: MAILER-DAEMON@mx.example.net
            To: news@example.com
            Subject: Returned mail
            Date: Mon, 2 Nov 2026 10:15:00 +0000
            Content-Type: multipart/report; report-type=delivery-status

            The message could not be delivered.
            """
        do {
            _ = try dsnRead(noDelimiters, options: DSNOptions(delivery: "d"))
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("boundary"), "\(error)")
        }
        let recovered = DSNSamples.report().replacingOccurrences(of: ";\n\tboundary=\"\(DSNSamples.boundary)\"", with: "")
        #expect(try dsnRead(recovered).events.first?.qualification == Qualification(.hard, .userUnknown))
    }

    @Test("deeply nested and oversized structures end quickly")
    func boundedWork() throws {
        var nested = "From: MAILER-DAEMON@mx.example.net\nTo: news@example.com\nSubject: x\nDate: Mon, 2 Nov 2026 10:15:00 +0000\nContent-Type: multipart/mixed; boundary=b0\n\n"
        for i in 0..<300 { nested += "--b\(i)\nContent-Type: multipart/mixed; boundary=b\(i + 1)\n\n" }
        let manyHeaders = String(repeating: "X-Filler: abc\n", count: 50_000) + "From: a@example.org\n\nbody\n"
        let manyParts = "From: MAILER-DAEMON@mx.example.net\nDate: Mon, 2 Nov 2026 10:15:00 +0000\nContent-Type: multipart/mixed; boundary=p\n\n"
            + String(repeating: "--p\nContent-Type: text/plain\n\nx\n", count: 20_000)
        let clock = ContinuousClock()
        for input in [nested, manyHeaders, manyParts] {
            let start = clock.now
            _ = try? dsnRead(input, options: DSNOptions(delivery: "d"))
            #expect(clock.now - start < .seconds(10))
        }
    }

    @Test("RFC 5322 dates: zones, obsolete zones, no weekday, two-digit years, comments")
    func dates() {
        #expect(MIMEDate.parse("Thu, 2 Nov 2026 09:00:00 +0100") == at("2026-11-02T08:00:00Z"))
        #expect(MIMEDate.parse("2 Nov 2026 09:00 -0000") == at("2026-11-02T09:00:00Z"))
        #expect(MIMEDate.parse("Mon, 2 Nov 2026 09:00:00 GMT") == at("2026-11-02T09:00:00Z"))
        #expect(MIMEDate.parse("Mon, 2 Nov 2026 09:00:00 EST") == at("2026-11-02T14:00:00Z"))
        #expect(MIMEDate.parse("Mon, 2 Nov 2026 09:00:00 PDT") == at("2026-11-02T16:00:00Z"))
        #expect(MIMEDate.parse("Mon, 2 Nov 26 09:00:00 +0000") == at("2026-11-02T09:00:00Z"))
        #expect(MIMEDate.parse("Fri, 29 Apr 99 23:34:45 +0900") == at("1999-04-29T14:34:45Z"))
        #expect(MIMEDate.parse("Sun, 23 Nov 2014 19:55:16 +0300 (MSK)") == at("2014-11-23T16:55:16Z"))
        #expect(MIMEDate.parse("Thu Apr 29 23:34:45 2010") == at("2010-04-29T23:34:45Z"))
        #expect(MIMEDate.parse("2026-11-02T09:00:00Z") == at("2026-11-02T09:00:00Z"))
        #expect(MIMEDate.parse("Thursday, April 09, 2026 9:00 PM") == at("2026-04-09T21:00:00Z"))
        #expect(MIMEDate.parse("Thursday, April 09, 2026 12:30 AM") == at("2026-04-09T00:30:00Z"))
        #expect(MIMEDate.parse("Mon, 31 Feb 2026 09:00:00 +0000") == nil)
        #expect(MIMEDate.parse("yesterday") == nil)
        #expect(MIMEDate.parse("") == nil)
    }

    /// The sample report's error once its DSN dates are removed and its `Date:` is `date` (removed when nil).
    func dateError(_ date: String?) throws -> IngestError {
        let text = DSNSamples.report().replacingOccurrences(of: "Date: Mon, 2 Nov 2026 10:15:00 +0000\n", with: date.map { "Date: \($0)\n" } ?? "")
            .replacingOccurrences(of: "Last-Attempt-Date: Mon, 2 Nov 2026 10:14:58 +0000\n", with: "")
            .replacingOccurrences(of: "Arrival-Date: Mon, 2 Nov 2026 10:14:00 +0000\n", with: "")
        do {
            _ = try dsnRead(text)
        } catch {
            return error
        }
        throw Failure(description: "expected an error for Date \(date ?? "missing")")
    }

    struct Failure: Error, CustomStringConvertible { var description: String }

    @Test("no usable date → error naming Date")
    func missingDate() throws {
        #expect(try dateError(nil).field == "Date")
        // Arrival-Date is used when Last-Attempt-Date is missing.
        let arrival = DSNSamples.report().replacingOccurrences(of: "Last-Attempt-Date: Mon, 2 Nov 2026 10:14:58 +0000\n", with: "")
        #expect(try dsnRead(arrival).events[0].occurredAt == at("2026-11-02T10:14:00Z"))
    }

    @Test("a report with no date of its own: the returned message's newest Received stamp (its arrival at the reporting MTA, RFC 3464 §2.2.5)")
    func dateFromReturnedMessage() throws {
        // MIME: the returned message/rfc822 part; the first Received field is the newest hop, folded,
        // at +01:00 — 11:14 there is 10:14 UTC. The older stamp below it is not the arrival.
        let returned = "Received: from out.example.com (out.example.com [192.0.2.1])\n\tby mx.example.net with ESMTP id 1;\n\tMon, 2 Nov 2026 11:14:00 +0100\n"
            + "Received: from localhost by out.example.com; Mon, 2 Nov 2026 09:00:00 +0000\n"
            + "From: news@example.com\nTo: ann@example.org\nSubject: Spring sale\nX-Delivery-ID: spring-sale"
        let mime = DSNSamples.report(returned: returned)
            .replacingOccurrences(of: "Date: Mon, 2 Nov 2026 10:15:00 +0000\n", with: "")
            .replacingOccurrences(of: "Last-Attempt-Date: Mon, 2 Nov 2026 10:14:58 +0000\n", with: "")
            .replacingOccurrences(of: "Arrival-Date: Mon, 2 Nov 2026 10:14:00 +0000\n", with: "")
        #expect(try dsnRead(mime).events[0].occurredAt == at("2026-11-02T10:14:00Z"))
        // Plain text (qmail): the original's headers quoted after the notification.
        let plain = DSNSamples.qmail.replacingOccurrences(of: "Date: 2 Nov 26 10:20:00 GMT\n", with: "")
        #expect(try dsnRead(plain).events[0].occurredAt == at("2026-11-02T10:19:00Z"))
        // The bounce's own Date still comes first.
        #expect(try dsnRead(DSNSamples.qmail).events[0].occurredAt == at("2026-11-02T10:20:00Z"))
        // An unreadable newest stamp falls through to the next; a `;` in a comment after the date;
        // headers quoted with "> " (found by a tester).
        let unreadable = plain.replacingOccurrences(of: "Received: (qmail 1234 invoked by uid 0); 2 Nov 2026 10:19:00 -0000\n",
            with: "Received: from a by b; someday\nReceived: (qmail 1234 invoked by uid 0); 2 Nov 2026 10:18:00 -0000 (x; y)\n")
        #expect(try dsnRead(unreadable).events[0].occurredAt == at("2026-11-02T10:18:00Z"))
        let quoted = plain.replacingOccurrences(of: "Received: (qmail 1234 invoked by uid 0); 2 Nov 2026 10:19:00 -0000\n",
                                                with: "> Received: from out.example.com\n> \tby mx.example.net; 2 Nov 2026 10:17:00 -0000\n")
        #expect(try dsnRead(quoted).events[0].occurredAt == at("2026-11-02T10:17:00Z"))
        // A returned message without a dated Received field: still an error naming Date.
        let undated = plain.replacingOccurrences(of: "Received: (qmail 1234 invoked by uid 0); 2 Nov 2026 10:19:00 -0000\n", with: "")
        #expect(throws: IngestError.self) { try dsnRead(undated) }
    }

    @Test("a date before 1970 is named as such, not as text that is no date")
    func dateBefore1970() throws {
        // 00:00 at +01:00 on 1 January 1970 is 23:00 UTC the day before: before Instant.earliest.
        let error = try dateError("Thu, 1 Jan 1970 00:00:00 +0100")
        #expect(error.field == "Date")
        #expect(error.message == "'Thu, 1 Jan 1970 00:00:00 +0100' is 1969-12-31T23:00:00.000Z, outside the instants the ledger records (1970-01-01T00:00:00.000Z to 9999-12-31T23:59:59.999Z)")
        #expect(try dateError("yesterday").message == "'yesterday' is not an RFC 5322 date-time")
    }

    @Test("a bad recipient block is an error, or a rejected record next to the good ones with skipInvalid")
    func badRecipient() throws {
        let extra = "Final-Recipient: rfc822; not-an-address\nAction: failed\nStatus: 5.1.1\n"
        let text = DSNSamples.report(extraFields: extra, notification: "The mail system")
        do {
            _ = try dsnRead(text)
            Issue.record("expected an error")
        } catch {
            #expect(error.field == "Final-Recipient")
        }
        let parsed = try dsnRead(text, options: DSNOptions(skipInvalid: true))
        #expect(parsed.events.count == 1 && parsed.rejected.count == 1)
        #expect(String(decoding: parsed.rejected[0].raw, as: UTF8.self).hasPrefix("Final-Recipient: rfc822; not-an-address"))
    }
}
