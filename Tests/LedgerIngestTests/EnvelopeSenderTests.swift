import DeliveryLedger
import LedgerIngest
import Testing

/// Issue #14: a reply that is about the **sender** is not a failure of the recipient's address.
/// RFC 5321 §4.1.1.2: `MAIL FROM` carries only the reverse-path, so a permanent refusal at `MAIL`
/// refuses the sender; and a reply that names the envelope sender (the returned message's
/// `Return-Path`, RFC 5321 §4.4) is about the sender whatever its words ("User unknown" then means
/// the sender's address). Rules `mail-command-size` (RFC 1870 §6.1) and `mail-command-reply`.
@Suite("Replies about the envelope sender")
struct EnvelopeSenderTests {
    let rules = TextQualifier.builtIn

    @Test("SMTPCommand.implied: MAIL only when the text names the Return-Path's address, not the recipient, and no command")
    func impliedCommand() {
        let raw = Array("Reporting-MTA: dns; mx.example.net\n\nReturn-Path: <Bounces+7@News.Example.com>".utf8)
        let text = "550 5.7.1 <bounces+7@news.example.com>... Access denied"
        #expect(SMTPCommand.implied(byReply: text, recipient: "ann@example.org", raw: raw) == .mail)
        // Compared without case, on either side.
        #expect(SMTPCommand.implied(byReply: "550 <BOUNCES+7@NEWS.EXAMPLE.COM>... denied", recipient: "ann@example.org", raw: raw) == .mail)
        // Naming the recipient only: nothing implied.
        #expect(SMTPCommand.implied(byReply: "550 5.1.1 <ann@example.org>... User unknown", recipient: "ann@example.org", raw: raw) == nil)
        // A text that names the recipient too is not only about the sender (a quoted Postfix log line).
        let logLine = "550 5.1.1 <ann@example.org>: Recipient address rejected: User unknown; from=<bounces+7@news.example.com> to=<ann@example.org>"
        #expect(SMTPCommand.implied(byReply: logLine, recipient: "ann@example.org", raw: raw) == nil)
        // The text names its command: that command is read by find(in:), nothing is implied.
        #expect(SMTPCommand.implied(byReply: text + " (in reply to RCPT TO command)", recipient: "ann@example.org", raw: raw) == nil)
        // An empty reverse-path (a bounce's own `Return-Path: <>`) names nobody.
        #expect(SMTPCommand.implied(byReply: "550 <>... denied", recipient: "ann@example.org", raw: Array("Return-Path: <>\n".utf8)) == nil)
        // The Return-Path must be a field at a line start, not words inside a line.
        let inLine = Array("Diagnostic-Code: smtp; see Return-Path: <bounces+7@news.example.com>".utf8)
        #expect(SMTPCommand.implied(byReply: text, recipient: "ann@example.org", raw: inLine) == nil)
        // Only the reader's own evidence counts: a Return-Path field that alone makes the last
        // paragraph. A plain-text bounce's raw bytes (the whole message) imply nothing, even when
        // the bounce's own Return-Path or a quoted copy names the address (found by a tester).
        let plain = Array("Return-Path: <bounces+7@news.example.com>\nFrom: MAILER-DAEMON@mx.example.net\n\n--- copy of the message\nReturn-Path: <bounces+7@news.example.com>\n".utf8)
        #expect(SMTPCommand.implied(byReply: text, recipient: "ann@example.org", raw: plain) == nil)
    }

    @Test("SMTPCommand.implied: nothing when the reply is about the recipient after all (found by a tester)")
    func impliedNotWhenAboutTheRecipient() {
        let sender = "<bounces+7@news.example.com>"
        func raw(_ block: String) -> [UInt8] { Array((block + "\n\nReturn-Path: \(sender)").utf8) }
        let block = "Final-Recipient: rfc822; ann@example.org\nStatus: 5.0.0"
        #expect(SMTPCommand.implied(byReply: "550 \(sender)... Access denied", recipient: "ann@example.org", raw: raw(block)) == .mail)
        // A code about the destination mailbox, in the text or in the recipient's Status: field (RFC 3463 X.1.1, X.2.2).
        #expect(SMTPCommand.implied(byReply: "550 5.1.1 The email account does not exist. Sender: \(sender)", recipient: "ann@example.org", raw: raw(block)) == nil)
        #expect(SMTPCommand.implied(byReply: "552 Mailbox full, message from \(sender)", recipient: "ann@example.org",
                                    raw: raw("Final-Recipient: rfc822; ann@example.org\nStatus: 5.2.2")) == nil)
        // The recipient written without brackets, its Original-Recipient (an alias), or its local part with an IDN domain in A-labels.
        #expect(SMTPCommand.implied(byReply: "550 \(sender)... Access denied for ann@example.org", recipient: "ann@example.org", raw: raw(block)) == nil)
        #expect(SMTPCommand.implied(byReply: "550 \(sender)... no mailbox for list@lists.example.org", recipient: "ann@example.org",
                                    raw: raw(block + "\nOriginal-Recipient: rfc822;list@lists.example.org")) == nil)
        #expect(SMTPCommand.implied(byReply: "550 \(sender)... <ann@xn--bcher-kva.example> unknown", recipient: "ann@bücher.example",
                                    raw: raw("Final-Recipient: rfc822; ann@bücher.example\nStatus: 5.0.0")) == nil)
    }

    @Test("a permanent reply to MAIL is the sender's failure: Refused, soft, never counted against the address")
    func mailCommandReply() {
        // Postfix names the command; "User unknown" at MAIL FROM is about the sender's address.
        let r = rules.qualify(text: "host mx.example.org[192.0.2.10] said: 550 5.1.0 <news@example.com>: User unknown (in reply to MAIL FROM command)")
        #expect(r.qualification == Qualification(.soft, .refused))
        #expect(r.rule == "mail-command-reply" && r.concerns == .sender && r.final && r.smtpCommand == .mail)
        // Given apart.
        let given = rules.qualify(text: "550 5.1.1 User unknown", smtpCommand: .mail)
        #expect(given.rule == "mail-command-reply" && given.qualification == Qualification(.soft, .refused) && given.concerns == .sender)
        // The same words at RCPT TO stay an unknown recipient.
        let rcpt = rules.qualify(text: "550 5.1.1 User unknown", smtpCommand: .rcpt)
        #expect(rcpt.qualification == Qualification(.hard, .userUnknown) && rcpt.concerns == .recipient)
        // A transient reply at MAIL is the sender's too (Postfix's "Temporary lookup failure" of the
        // sender's domain), soft and not final; a class-5 status without a reply code is permanent.
        let transient = rules.qualify(text: "451 4.3.0 Temporary lookup failure", smtpCommand: .mail)
        #expect(transient.rule == "mail-command-reply" && transient.qualification.type == .soft && !transient.final && transient.concerns == .sender)
        let statusOnly = rules.qualify(text: "User unknown", enhancedStatus: "5.1.1", smtpCommand: .mail)
        #expect(statusOnly.rule == "mail-command-reply" && statusOnly.final && statusOnly.concerns == .sender)
    }

    @Test("a size refusal at MAIL FROM (RFC 1870 SIZE=) is about the message: Ignored, Refused, concerns the content")
    func mailCommandSize() {
        let r = rules.qualify(text: "552 5.3.4 Message size exceeds fixed maximum message size", smtpCommand: .mail)
        #expect(r.rule == "mail-command-size" && r.qualification == Qualification(.ignored, .refused) && r.concerns == .content)
        // RFC 5321 §4.2.3's own 552 text, and X.3.4 with other words.
        let storage = rules.qualify(text: "552 5.3.4 Requested mail action aborted: exceeded storage allocation", smtpCommand: .mail)
        #expect(storage.rule == "mail-command-size" && storage.concerns == .content)
        let code = rules.qualify(text: "552 5.3.4 Too much mail data", smtpCommand: .mail)
        #expect(code.rule == "mail-command-size-status" && code.qualification == Qualification(.ignored, .refused) && code.concerns == .content)
        // RFC 1870's wording without an enhanced code or a command: too-large-text reads it too.
        let plain = rules.qualify(text: "552 Message size exceeds fixed maximum message size")
        #expect(plain.rule == "too-large-text" && plain.qualification == Qualification(.ignored, .refused) && plain.concerns == .content)
    }

    @Test("SMTP AUTH failures are the sender's (RFC 4954 §6): Refused, soft, concerns the sender")
    func smtpAuthentication() {
        // A refusal at the AUTH command, whatever its words.
        let atAuth = rules.qualify(text: "535 5.7.8 Error: authentication failed: UGFzc3dvcmQ6", smtpCommand: .auth)
        #expect(atAuth.rule == "auth-command-reply" && atAuth.qualification == Qualification(.soft, .refused) && atAuth.concerns == .sender)
        // RFC 4954's wordings without a command, and a server that offers no AUTH to a client that
        // must log in (Gmail's "Send mail as" through the sender's own server).
        for text in ["535 5.7.8 Authentication credentials invalid",
                     "530 5.7.0 Authentication required",
                     "Unspecified Error (SENT_SECOND_EHLO): Smtp server does not advertise AUTH capability"] {
            let r = rules.qualify(text: text)
            #expect(r.rule == "authentication-text" && r.qualification == Qualification(.soft, .refused) && r.concerns == .sender, "\(text)")
        }
    }

    /// Wordings of real bounces outside the corpus the rules were written from (Sisimai's public
    /// test emails), each decided by the rule its source names.
    @Test("published wordings: a DNSBL block under 521, Gmail's connection failure, a From domain, a relay quota")
    func publishedWordings() {
        // RFC 3463 §2: the X.7.1 code and the block-list text refine RFC 7504's 521: the client is refused
        // (rules-2026.12-8: the X.7.x listing rule, before any address wording; since rules-2026.12-10 the
        // client refusal rule, which names the client, decides first — the same verdict).
        let blocked = rules.qualify(text: "521-5.7.1 [192.0.2.1] client blocked using dnsbl.sorbs.net")
        #expect(blocked.rule == "client-refused-text" && blocked.concerns == .sender && blocked.qualification == Qualification(.soft, .refused))
        // A 521 alone is still a host that takes no mail (RFC 7504 §3).
        #expect(rules.qualify(text: "521 5.3.2 System not accepting network messages").rule == "no-mail-host-reply")
        // Google's "did not accept our requests to connect" (support.google.com/mail/answer/7720): no connection, Unreachable.
        let connect = rules.qualify(text: "The recipient server did not accept our requests to connect. [mx.example.org 192.0.2.1: socket error]")
        #expect(connect.rule == "network-text" && connect.qualification.reason == .unreachable)
        // A header-field form of the From domain ("From: Domain is invalid").
        let from = rules.qualify(text: "550 5.2.0 <bounces@example.com> From: Domain is invalid. Please provide a valid From")
        #expect(from.rule == "sending-domain-text" && from.concerns == .sender)
        let quota = rules.qualify(text: "554 You've reached your daily relay quota")
        #expect(quota.rule == "rate-limit-text" && quota.concerns == .sender)
    }

    static func report(diagnostic: String, returnPath: String?) -> String {
        DSNSamples.report(status: "5.0.0", diagnostic: "smtp; " + diagnostic,
                          notification: "<ann@example.org>: host mx.example.org[192.0.2.10] said: " + diagnostic,
                          returned: (returnPath.map { "Return-Path: \($0)\n" } ?? "")
                            + "From: news@example.com\nTo: ann@example.org\nSubject: Spring sale\nX-Delivery-ID: spring-sale")
    }

    @Test("a DSN whose diagnostic names the returned message's Return-Path: Refused soft, the field kept in raw; re-projection agrees")
    func dsnNamingTheEnvelopeSender() throws {
        // Amazon SES relayed the remote's refusal of the *sender* ("Unknown address error" is SES's
        // label): the address in brackets is the Return-Path, not the recipient.
        let diagnostic = "5.1.0 - Unknown address error 550-'5.7.1 <bounce-7@bounces.example.com>... Access denied'"
        let parsed = try dsnRead(Self.report(diagnostic: diagnostic, returnPath: "<bounce-7@bounces.example.com>"))
        let e = try #require(parsed.events.first)
        #expect(e.kind == .bounce && e.final && e.recipient == "ann@example.org")
        #expect(e.qualification == Qualification(.soft, .refused))
        let tail = Array("\n\nReturn-Path: <bounce-7@bounces.example.com>".utf8)
        #expect(Array(e.raw.suffix(tail.count)) == tail)
        // Re-projection reads the same evidence from the event and decides alike.
        let again = rules.qualify(event: e)
        #expect(again.rule == "mail-command-reply" && again.qualification == e.qualification && again.concerns == .sender)

        // Without a Return-Path in the returned headers, the same text is the generic unknown address.
        let unknown = try #require(try dsnRead(Self.report(diagnostic: diagnostic, returnPath: nil)).events.first)
        #expect(unknown.qualification == Qualification(.hard, .userUnknown))
        #expect(!unknown.raw.contains(bytes: Array("Return-Path".utf8)))
        // A diagnostic that names the recipient leaves the raw bytes as they were: no field added.
        let recipientSide = try #require(try dsnRead(Self.report(diagnostic: "550 5.1.1 <ann@example.org>... User unknown",
                                                                 returnPath: "<bounce-7@bounces.example.com>")).events.first)
        #expect(recipientSide.qualification == Qualification(.hard, .userUnknown))
        #expect(!recipientSide.raw.contains(bytes: Array("Return-Path".utf8)))
    }
}
