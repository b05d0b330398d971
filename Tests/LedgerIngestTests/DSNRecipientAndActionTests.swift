import DeliveryLedger
import Foundation
import Testing
@testable import LedgerIngest

/// Whose bounce it is and what the report says happened, on constructed messages (a tester's
/// reproductions, each against the RFC it cites): the address the sender gave (Original-Recipient,
/// RFC 3464 §2.3.1; "expanded from" / "generated from" in plain-text bounces), RFC 6533's escapes,
/// `Action: failed` with a 4.x.x status (domain.md §1: a timeout), `Action: expanded` (delivered,
/// §2.3.3), read receipts (RFC 8098: no failure) and auto-replies whose text sounds like a bounce.
@Suite("DSN reader: recipients and actions")
struct DSNRecipientAndActionTests {
    /// The report of `DSNSamples` with an Original-Recipient that differs from the Final-Recipient.
    static func forwarded(originalType: String = "rfc822", original: String = "ann@example.org") -> String {
        DSNSamples.report(recipient: "ann.smith@mail.example.net",
                          notification: "<ann.smith@mail.example.net>: host mx.example.net[192.0.2.10] said: 550 5.1.1\n    <ann.smith@mail.example.net>: Recipient address rejected: User unknown (in reply to RCPT TO command)")
            .replacingOccurrences(of: "Original-Recipient: rfc822;ann.smith@mail.example.net", with: "Original-Recipient: \(originalType);\(original)")
    }

    @Test func theEventIsTheOriginalRecipients() throws {
        let parsed = try dsnRead(Self.forwarded())
        let e = try #require(parsed.events.first)
        #expect(parsed.events.count == 1)
        #expect(e.recipient == "ann@example.org")
        // The text about the final address is still found (the SMTP command words come from it).
        #expect(e.qualification == Qualification(.hard, .userUnknown))
        #expect(e.response?.contains("(in reply to RCPT TO command)") == true, "\(e.response ?? "")")
        // An Original-Recipient that is no address (Exchange's IMCEAEX form) leaves the final one.
        let imceaex = try dsnRead(Self.forwarded(original: "IMCEAEX-_O=ORG_OU=EXCHANGE_CN=RECIPIENTS_CN=ANN"))
        #expect(imceaex.events.first?.recipient == "ann.smith@mail.example.net")
    }

    /// RFC 6533 §3: a `utf-8` address writes characters as `\x{HEX}`.
    @Test func utf8AddressEscapesAreDecoded() throws {
        let text = DSNSamples.report(recipient: "jos\\x{E9}@example.org", notification: "delivery failed")
            .replacingOccurrences(of: "Final-Recipient: rfc822; jos\\x{E9}@example.org", with: "Final-Recipient: utf-8; jos\\x{E9}@example.org")
            .replacingOccurrences(of: "Original-Recipient: rfc822;jos\\x{E9}@example.org\n", with: "")
        let e = try #require(try dsnRead(text).events.first)
        #expect(e.recipient == "josé@example.org")
        #expect(DSNStatusReport.decodingUnicodeEscapes("a\\x{1F600}b\\x{zz}c\\x{}") == "a😀b\\x{zz}c\\x{}")
    }

    /// domain.md §1: "DSN `Action: failed` + 4.x.x" is a timeout — the MTA gave up after temporary
    /// errors; it carries the last error's reason, soft (§4).
    @Test func failedWithATemporaryStatusIsATimeout() throws {
        let text = DSNSamples.report(status: "4.2.2", diagnostic: "smtp; 452 4.2.2 <ann@example.org>: Mailbox full",
                                     notification: "<ann@example.org>: mailbox full")
        let e = try #require(try dsnRead(text).events.first)
        #expect(e.kind == .timeout && e.final)
        #expect(e.qualification == Qualification(.soft, .mailboxFull))
        // A permanent status on the same action stays a final bounce.
        #expect(try dsnRead(DSNSamples.report()).events.first?.kind == .bounce)
    }

    /// RFC 3464 §2.3.3: `expanded` — delivered to the address the sender gave, then forwarded.
    @Test func expandedIsDelivered() throws {
        let text = DSNSamples.report(action: "expanded", status: "2.0.0", diagnostic: "smtp; 250 2.1.5 Ok, expanded to 3 recipients",
                                     notification: "Your message was delivered to the destination.")
        let parsed = try dsnRead(text)
        #expect(parsed.events.map(\.kind) == [.delivered] && parsed.skipped.isEmpty)
    }

    /// RFC 8098: a disposition notification says what the recipient did with a delivered message.
    @Test(arguments: ["displayed", "deleted"])
    func readReceiptsAreNoFailure(_ disposition: String) throws {
        let text = """
            From: Ann Example <ann@example.org>
            To: news@example.com
            Subject: Read: Spring sale
            Date: Tue, 3 Nov 2026 08:00:00 +0100
            MIME-Version: 1.0
            Content-Type: multipart/report; report-type=disposition-notification; boundary="MDN1"

            --MDN1
            Content-Type: text/plain; charset=us-ascii

            The message sent on Mon, 2 Nov 2026 to ann@example.org with subject "Spring sale" has been \(disposition).

            --MDN1
            Content-Type: message/disposition-notification

            Reporting-UA: mail.example.org; ExampleMail
            Final-Recipient: rfc822;ann@example.org
            Original-Message-ID: <spring-sale-1@example.com>
            Disposition: manual-action/MDN-sent-manually; \(disposition)

            --MDN1--
            """
        let parsed = try dsnRead(text, options: DSNOptions(delivery: "spring-sale"))
        #expect(parsed.events.isEmpty)
        #expect(parsed.skipped == ["disposition notification (read receipt, RFC 8098)": 1])
    }

    /// Plain-text success notices — Exchange's "Delivered:" receipt, GroupWise's "Message status -
    /// opened" (ezmlm-weed(1) lists both as receipts) — are no failure: counted, no event. The
    /// same subject over a failure text stays a bounce.
    @Test(arguments: [
        ("Microsoft Outlook <postmaster@contoso.com>", "Delivered: Spring sale", "Your message has been delivered to the following recipients:\n\nann@example.org (ann@example.org)"),
        ("GroupWise Internet Agent <postmaster@gw.example.org>", "Message status - opened", "The message has been opened.\n\n  Subject:  Spring sale\n  To:       ann@example.org"),
        ("Mail Delivery Subsystem <mailer-daemon@googlemail.com>", "Delivery Status Notification (Success)", "Your message has been successfully relayed to the following recipients:\n\n     ann@example.org"),
    ])
    func successNoticesAreNoFailure(_ c: (from: String, subject: String, body: String)) throws {
        func message(_ body: String) -> String {
            "From: \(c.from)\nTo: news@example.com\nSubject: \(c.subject)\nDate: Tue, 3 Nov 2026 08:00:00 +0100\nContent-Type: text/plain\n\n\(body)\n"
        }
        let parsed = try dsnRead(message(c.body), options: DSNOptions(delivery: "spring-sale"))
        #expect(parsed.events.isEmpty && parsed.skipped == ["delivery or read receipt (no failure)": 1])
        let failure = try dsnRead(message("Delivery has failed to these recipients:\n\nann@example.org\n550 5.1.1 User unknown"),
                                  options: DSNOptions(delivery: "spring-sale"))
        #expect(failure.events.map(\.kind) == [.bounce])
    }

    /// RFC 3834: an auto-reply's text may say "could not be delivered"; without a bounce's own
    /// header fields (mailer-daemon sender, bounce subject, X-Failed-Recipients) it stays an
    /// auto-reply from its sender, never a bounce for an address named in its text.
    @Test func autoReplyWithFailureWordingStaysAnAutoReply() throws {
        let text = """
            From: Ann Example <ann@example.org>
            To: news@example.com
            Subject: Re: Spring sale
            Date: Tue, 3 Nov 2026 08:00:00 +0100
            Auto-Submitted: auto-replied
            Content-Type: text/plain; charset=utf-8

            Your message could not be delivered to me right now because I am on vacation until
            November 9th. For urgent matters contact bob@example.org.
            """
        let parsed = try dsnRead(text, options: DSNOptions(delivery: "spring-sale"))
        #expect(parsed.events.map(\.kind) == [.autoReply])
        #expect(parsed.events.first?.recipient == "ann@example.org")
    }

    /// An auto-reply from an alias quotes the message it answers: the message went to the quoted
    /// `To:` (one address), not to the reply's `From:`.
    @Test func autoReplyFromAnAliasGoesToTheQuotedRecipient() throws {
        let text = """
            From: Ann Smith <ann.smith@corp.example.org>
            To: bounce-1@bounces.example.com
            Subject: Automatic reply: Spring sale
            Date: Tue, 3 Nov 2026 08:00:00 +0100
            Auto-Submitted: auto-replied
            Content-Type: text/plain; charset=us-ascii

            I am out of the office until Monday.

            -----Original Message-----
            From: news@example.com
            To: ann@example.org
            Subject: Spring sale
            X-Delivery-ID: spring-sale

            Our spring sale starts now.
            """
        let parsed = try dsnRead(text)
        #expect(parsed.events.map(\.kind) == [.autoReply])
        #expect(parsed.events.first?.recipient == "ann@example.org" && parsed.events.first?.delivery == "spring-sale")
        // Quoted with "> " markers: the same; a folded To: naming two addresses: the reply's sender.
        let marked = text.replacingOccurrences(of: "From: news@example.com\nTo: ann@example.org\nSubject: Spring sale\nX-Delivery-ID: spring-sale",
                                               with: "> From: news@example.com\n> To: ann@example.org\n> Subject: Spring sale\n> X-Delivery-ID: spring-sale")
        #expect(marked != text)
        #expect(try dsnRead(marked).events.first?.recipient == "ann@example.org")
        let folded = text.replacingOccurrences(of: "To: ann@example.org\n", with: "To: ann@example.org,\n bob@example.org\n")
        #expect(try dsnRead(folded).events.first?.recipient == "ann.smith@corp.example.org")
        // Without a quoted message, the reply's sender (DSNSamples.outOfOffice).
        let plain = try dsnRead(DSNSamples.outOfOffice, options: DSNOptions(delivery: "spring-sale"))
        #expect(plain.events.first?.recipient == "ann@example.org")
    }

    /// Plain-text bounces name the final address and the one it came from: Postfix's bounce(5)
    /// "<final> (expanded from <original>)", Exim's "(generated from original)".
    @Test(arguments: [
        "<ann.smith@mail.example.net> (expanded from <ann@example.org>): host mx.example.net[192.0.2.10] said: 550\n    5.1.1 <ann.smith@mail.example.net>: Recipient address rejected: User unknown (in\n    reply to RCPT TO command)",
        "  ann.smith@mail.example.net\n    (generated from ann@example.org)\n    host mx.example.net [192.0.2.10]\n    SMTP error from remote mail server after RCPT TO:<ann.smith@mail.example.net>:\n    550 5.1.1 User unknown",
    ])
    func plainTextAliasesGoToTheOriginal(_ notification: String) throws {
        let text = """
            From: Mail Delivery System <MAILER-DAEMON@mx.example.com>
            To: news@example.com
            Subject: Mail delivery failed: returning message to sender
            Date: Mon, 2 Nov 2026 10:15:00 +0000
            X-Failed-Recipients: ann.smith@mail.example.net

            This message was created automatically by mail delivery software.

            A message that you sent could not be delivered to one or more of its
            recipients. This is a permanent error. The following address(es) failed:

            \(notification)

            ------ This is a copy of the message, including all the headers. ------

            From: news@example.com
            To: ann@example.org
            Subject: Spring sale
            X-Delivery-ID: spring-sale
            """
        let parsed = try dsnRead(text)
        #expect(parsed.events.map(\.recipient) == ["ann@example.org"])
        #expect(parsed.events.first?.qualification == Qualification(.hard, .userUnknown))
    }

    /// A quoted local part holds spaces (RFC 5321 §4.1.2): the whole `"john smith"@example.com` is
    /// the recipient, never its last word.
    @Test func quotedLocalPartsStayWhole() throws {
        let text = DSNSamples.report(recipient: "\"john smith\"@example.com", notification: "delivery failed")
        #expect(try dsnRead(text).events.first?.recipient == "\"john smith\"@example.com")
    }

    /// An address inside a longer one is not it (`joann@` holds `ann@`), and the original keeps its
    /// local part's case (domain.md §2).
    @Test func aliasLookupMatchesWholeAddresses() throws {
        let notification = """
            <joann@example.com> (expanded from <List@example.com>): host mx.example.com[192.0.2.1] said: 550 5.1.1 unknown (in reply to RCPT TO command)
            <ann@example.com>: host mx.example.com[192.0.2.1] said: 552 5.2.2 mailbox full (in reply to RCPT TO command)
            """
        #expect(DSNPlainText.originalAddress(of: "ann@example.com", in: notification) == nil)
        #expect(DSNPlainText.originalAddress(of: "joann@example.com", in: notification) == "List@example.com")
    }

    /// Microsoft Exchange Online NDRs (Microsoft Learn, "Fix NDR error 5.4.310", "5.2.121 or
    /// 5.2.122"): a domain that does not exist is Invalid domain, soft (domain.md §5.3); a
    /// recipient's receive limit is a rate limit, Refused, soft.
    @Test func exchangeOnlineNDRTexts() {
        let q = TextQualifier.builtIn
        #expect(q.qualify(text: "550 5.4.310 DNS domain sj2ing5.net does not exist [Message=InfoDomainNonexistent]").qualification == Qualification(.soft, .invalidDomain))
        #expect(q.qualify(text: "550 5.2.121 Recipient's per hour message receive limit from specific sender exceeded").qualification == Qualification(.soft, .refused))
        #expect(q.qualify(text: "550 5.2.122 Recipient's per hour message receive limit exceeded").qualification == Qualification(.soft, .refused))
        // A mailbox that does not exist stays User unknown.
        #expect(q.qualify(text: "550 5.1.1 The email account that you tried to reach does not exist").qualification == Qualification(.hard, .userUnknown))
    }
}
