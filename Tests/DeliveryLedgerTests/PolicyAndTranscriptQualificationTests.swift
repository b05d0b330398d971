import DeliveryLedger
import Testing

/// Qualification cases found by a tester writing real-world bounces (2026-12-04), each decided by a
/// general rule, not by the file's strings. Texts written for these tests; each expected value is
/// worked out from the rules cited, not copied from output.
@Suite("Policy codes, HELO refusals, transcripts and transient mailbox replies (qualification)")
struct PolicyAndTranscriptQualificationTests {
    let q = TextQualifier.builtIn

    /// Postfix's `smtpd_helo_restrictions` answer "Helo command rejected: …" (Postfix SMTPD_ACCESS_README):
    /// a refusal of the client's HELO name, the session's — never the recipient's address, even
    /// when the reason is "Host not found" (which invalid-domain-text would read as the
    /// recipient's domain). RFC 5321 §4.1.1.1 HELO/EHLO.
    @Test(arguments: [
        "450 4.7.1 <mta1.news.local>: Helo command rejected: Host not found",
        "504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname",
        "501 5.5.2 Invalid HELO hostname",
        "550 5.7.1 EHLO rejected: your host name is not allowed",
        "550 Rejected: EHLO/HELO syntax invalid",
    ])
    func heloRefusalsConcernTheSession(_ text: String) {
        let r = q.qualify(text: text)
        #expect(r.rule == "helo-text", "\(text)")
        #expect(r.qualification == Qualification(.soft, .refused))
        #expect(r.concerns == .session)
    }

    /// Under an X.7.x code (RFC 3463 §3.8: security or policy), RFC 5321's generic 550 text
    /// "mailbox unavailable" is no verdict on the address: a listing names the sender's IP, spam the
    /// content; alone, a policy refusal. None is hard, none quarantines the address.
    @Test func policyCodesWithMailboxWordingAreRefusals() {
        let listed = q.qualify(text: "550 5.7.1 Requested action not taken: mailbox unavailable. Your IP 192.0.2.10 is listed on dnsbl.sorbs.net")
        #expect(listed.qualification == Qualification(.soft, .refused))
        #expect(listed.concerns == .sender)
        let spam = q.qualify(text: "550 5.7.1 Requested action not taken: mailbox unavailable. Reason: message identified as spam")
        #expect(spam.qualification == Qualification(.soft, .refused))
        #expect(spam.concerns == .content)
        let bare = q.qualify(text: "550 5.7.1 Requested action not taken: mailbox unavailable")
        #expect(bare.qualification == Qualification(.soft, .refused))
        // Without a policy code the same 550 text stays User unknown, hard (RFC 5321 §4.2.3).
        let plain = q.qualify(text: "550 Requested action not taken: mailbox unavailable")
        #expect(plain.qualification == Qualification(.hard, .userUnknown))
    }

    /// Directory harvest prevention refuses the client for its count of bad recipients: the sender's.
    @Test func tooManyInvalidRecipientsConcernsTheSender() {
        let r = q.qualify(text: "550 5.7.1 Connection refused - <192.0.2.10> - Too many invalid recipients")
        #expect(r.qualification == Qualification(.soft, .refused))
        #expect(r.concerns == .sender)
    }

    /// RFC 5321 §4.2.2: 450 "mailbox unavailable (e.g., mailbox busy …)" is transient: Unreachable,
    /// soft, not final — not User unknown (a hard reason, reference/campaign.md §1.2).
    @Test(arguments: ["450 Requested mail action not taken: mailbox unavailable",
                      "451 4.3.0 Mailbox temporarily unavailable",
                      "450 4.2.0 <bea@example.com>: Recipient temporarily unavailable"])
    func transientMailboxUnavailableIsUnreachable(_ text: String) {
        let r = q.qualify(text: text)
        #expect(r.qualification == Qualification(.soft, .unreachable), "\(text)")
        #expect(!r.final)
    }

    /// A session transcript quotes the positive replies before the one that failed: the codes are
    /// the failure's (RFC 5321 §4.2.1, RFC 3463 §3.1), so a 450 after `250 2.1.0 Ok` is soft — it
    /// was hard User unknown with status 2.1.0.
    @Test func aTranscriptIsQualifiedByItsFailingReply() {
        let text = "<-- MAIL FROM:<news@example.org>\n--> 250 2.1.0 Ok\n<-- RCPT TO:<bea@example.com>\n--> 450 4.2.1 <bea@example.com>: Mailbox temporarily unavailable, try again later"
        #expect(TextQualifier.replyCode(in: text) == 450)
        #expect(TextQualifier.enhancedStatus(in: text)?.description == "4.2.1")
        let r = q.qualify(text: text)
        #expect(r.qualification.type == .soft)
        #expect(r.replyCode == 450)
        #expect(r.enhancedStatus == "4.2.1")
        // A success alone is still read as one (a delivered recipient's reply).
        #expect(TextQualifier.replyCode(in: "250 2.0.0 Ok: queued as 4Q2") == 250)
        #expect(TextQualifier.enhancedStatus(in: "250 2.0.0 Ok: queued as 4Q2")?.description == "2.0.0")
        // A failure's own generic code beats an earlier specific success code.
        #expect(TextQualifier.enhancedStatus(in: "250 2.1.5 Ok\n554 5.0.0 Transaction failed")?.description == "5.0.0")
    }

    /// Vendors' documented texts, each to whom its source says it refers (rules-2026.12-8).
    @Test func vendorTextsConcernWhomTheirSourcesSay() {
        // Microsoft 5.7.708 (Learn, "Fix NDR error 5.7.708"): the sending IP.
        let ip = q.qualify(text: "550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP.")
        #expect(ip.concerns == .sender && ip.qualification == Qualification(.soft, .refused))
        // Mimecast "Rejected by header based Anti-Spoofing policy": the sender's From.
        #expect(q.qualify(text: "550 Rejected by header based Anti-Spoofing policy: news@example.com").concerns == .sender)
        // Exchange Online 5.7.57: the client did not authenticate (RFC 4954): the sender.
        #expect(q.qualify(text: "550 5.7.57 SMTP; Client was not authenticated to send anonymous mail during MAIL FROM").concerns == .sender)
        // Outlook.com RP-001: the sender's hourly/daily limits.
        let rp = q.qualify(text: "421 RP-001 Unfortunately, some messages from 192.0.2.1 weren't sent. We have limits for how many messages can be sent per hour and per day.")
        #expect(rp.concerns == .sender && rp.qualification.type == .soft)
        // Gmail 552-5.7.0 content security: the content, not the IP (its text says "blocked").
        let content = q.qualify(text: "552-5.7.0 This message was blocked because its content presents a potential security issue.")
        #expect(content.concerns == .content && content.qualification == Qualification(.soft, .refused))
        // Courier "does not have an account here": User unknown, hard.
        #expect(q.qualify(text: "550 User ann does not have an account here").qualification == Qualification(.hard, .userUnknown))
        // French and German "mailbox full": Mailbox full, soft (RFC 5321 §4.2.2's 552 storage allocation).
        #expect(q.qualify(text: "552 Quota dépassé").qualification == Qualification(.soft, .mailboxFull))
        #expect(q.qualify(text: "552 Postfach voll").qualification == Qualification(.soft, .mailboxFull))
    }
}
