import DeliveryLedger
import Foundation
import Testing

/// Issue #14: rules conditioned on the SMTP command the failure answered, the X.2.1 decision, and
/// the reporting MTA's own bounce category. Texts written for these tests (example.com addresses);
/// each expected value is worked out from the rule and its source, not copied from output.
@Suite("SMTP command and bounce-category rules")
struct SMTPCommandRulesTests {
    let q = TextQualifier.builtIn

    // MARK: Finding the command in the text (SMTPCommand.find)

    struct Found: Sendable, CustomStringConvertible {
        var description: String
        var text: String
        var command: SMTPCommand?
    }

    static let wordings: [Found] = [
        // Postfix smtp_proto.c xfer_request: "<command> command" after "in reply to".
        Found(description: "Postfix, RCPT TO", text: "host mx.example.com[192.0.2.1] said: 550 5.1.1 <ann@example.com>: User unknown (in reply to RCPT TO command)", command: .rcpt),
        Found(description: "Postfix, MAIL FROM", text: "said: 553 sender rejected (in reply to MAIL FROM command)", command: .mail),
        Found(description: "Postfix, end of DATA folded over two lines", text: "said: 550 Unknown user (in reply to end of\n    DATA command)", command: .data),
        Found(description: "Postfix, while receiving the greeting", text: "lost connection with mx.example.com[192.0.2.1] while receiving the initial server greeting", command: .connect),
        // Exim: "SMTP error from remote mail server after <command>".
        Found(description: "Exim, RCPT TO", text: "SMTP error from remote mail server after RCPT TO:<ann@example.com>:\n host mx.example.com [192.0.2.1]: 550 5.2.1 <ann@example.com>... User Unknown", command: .rcpt),
        Found(description: "Exim, end of data", text: "SMTP error from remote mail server after end of data: 550 unknown user", command: .data),
        Found(description: "Exim, pipelined MAIL FROM", text: "SMTP error from remote mail server after pipelined MAIL FROM:<news@example.com>: 550 denied", command: .mail),
        Found(description: "GMX, after RCPT command", text: "SMTP error from remote server after RCPT command: host: mx.example.com 5.2.1 User Unknown", command: .rcpt),
        // "after" in prose names no command (found by a tester).
        Found(description: "prose: after mail from your domain", text: "550 5.7.1 Message rejected: spam detected. Please resend after mail from your domain passes SPF", command: nil),
        // Session transcripts (Sendmail, Courier): the last command before the first negative reply.
        Found(description: "transcript refused at RCPT", text: ">>> MAIL From:<news@example.com>\n<<< 250 ok\n>>> RCPT To:<ann@example.com>\n<<< 550 5.1.1 User unknown\n>>> QUIT", command: .rcpt),
        Found(description: "transcript refused at DATA", text: "... while talking to mx.example.com.:\n>>> DATA\n<<< 550 Unknown user ann@example.com\n554 5.0.0 Service unavailable", command: .data),
        // qmail-remote.c wordings.
        Found(description: "qmail, recipient", text: "192.0.2.1 does not like recipient. Remote host said: 550 no such user", command: .rcpt),
        Found(description: "qmail, sender", text: "Connected to 192.0.2.1 but sender was rejected. Remote host said: 553 denied", command: .mail),
        Found(description: "qmail, after the message", text: "Connected to 192.0.2.1 but failed after I sent the message. Remote host said: 554 rejected", command: .data),
        // A labelled field (m-FILTER writes the label and the command on two lines).
        Found(description: "label SMTP command", text: "-------server message\n550 unknown user <ann@example.com>\n-------SMTP command\nDATA\n", command: .data),
        // None, or not a command.
        Found(description: "no command named", text: "550 5.1.1 <ann@example.com>: User unknown", command: nil),
        Found(description: "a word that starts like a command", text: "550 user unknown in reply to database lookup", command: nil),
        Found(description: "two different commands: unknown", text: "(in reply to RCPT TO command) (in reply to end of DATA command)", command: nil),
    ]

    @Test(arguments: wordings)
    func findsTheCommand(_ c: Found) {
        #expect(SMTPCommand.find(in: c.text) == c.command)
        #expect((SMTPCommand.evidence(in: c.text)?.command) == c.command)
    }

    @Test func evidenceKeepsTheWordsAsWritten() {
        let said = SMTPCommand.evidence(in: "said: 550 Unknown user (in reply to end of\n    DATA command)")
        #expect(said?.words == "in reply to end of DATA command")
        #expect(SMTPCommand.find(in: "x (" + (said?.words ?? "") + ")") == .data, "the words alone say the command again")
    }

    // MARK: The rules

    struct Case: Sendable, CustomStringConvertible {
        var description: String
        var text: String
        var command: SMTPCommand? = nil
        var context: QualificationContext = .none
        var type: FailureType
        var reason: FailureReason
        var rule: String
        var concerns: FailureConcern = .recipient
    }

    static let cases: [Case] = [
        // RFC 5321 §3.3 + Sisimai Reason/UserUnknown.pm: "user unknown" answering RCPT TO is an address verdict, even under X.2.1.
        Case(description: "X.2.1 user unknown in reply to RCPT TO → User unknown, hard",
             text: "550 5.2.1 <ann@example.com>... User Unknown (in reply to RCPT TO command)",
             type: .hard, reason: .userUnknown, rule: "user-unknown-disabled-status"),
        Case(description: "X.2.1 user unknown, RCPT given apart → User unknown, hard",
             text: "550 5.2.1 <ann@example.com>... User Unknown", command: .rcpt,
             type: .hard, reason: .userUnknown, rule: "user-unknown-disabled-status"),
        // RFC 3463 §3.3 X.2.1: "The mailbox exists, but is not accepting messages"; domain.md §5.3 X.2.1 → Account disabled.
        Case(description: "X.2.1 user unknown, no command → Account disabled, soft",
             text: "550 5.2.1 <ann@example.com>... User Unknown",
             type: .soft, reason: .accountDisabled, rule: "disabled-status"),
        Case(description: "X.2.1 user unknown after end of DATA → Account disabled, soft (not an address verdict)",
             text: "550 5.2.1 <ann@example.com>... User Unknown (in reply to end of DATA command)",
             type: .soft, reason: .accountDisabled, rule: "disabled-status"),
        // RFC 5321 §3.3 + Sisimai Reason/Filtered.pm: "user unknown" after DATA refuses the message.
        Case(description: "user unknown in reply to end of DATA → Refused, soft, about the content",
             text: "550 Unknown user ann@example.com (in reply to end of DATA command)",
             type: .soft, reason: .refused, rule: "data-stage-user-unknown", concerns: .content),
        Case(description: "Sendmail transcript: >>> DATA <<< 550 Unknown user → Refused",
             text: "... while talking to mx.example.com.:\n>>> DATA\n<<< 550 Unknown user ann@example.com\n554 5.0.0 Service unavailable",
             type: .soft, reason: .refused, rule: "data-stage-user-unknown", concerns: .content),
        Case(description: "DATA given apart → Refused",
             text: "550 no such user ann@example.com", command: .data,
             type: .soft, reason: .refused, rule: "data-stage-user-unknown", concerns: .content),
        // The code decides before the stage: X.1.1 is a bad destination mailbox (RFC 3463), Sisimai userunknown by status.
        Case(description: "5.1.1 user unknown after DATA stays User unknown, hard",
             text: "550 5.1.1 <ann@example.com>: User unknown (in reply to end of DATA command)",
             type: .hard, reason: .userUnknown, rule: "user-unknown-status"),
        // The generic text rules keep their meaning (domain.md §5.3, TextQualifierTests).
        Case(description: "user unknown in reply to RCPT TO → User unknown, hard",
             text: "550 <ann@example.com>: user unknown (in reply to RCPT TO command)",
             type: .hard, reason: .userUnknown, rule: "user-unknown-text"),
        Case(description: "user unknown, no command → User unknown, hard",
             text: "550 <ann@example.com>... User unknown",
             type: .hard, reason: .userUnknown, rule: "user-unknown-text"),
        // PowerMTA's own category (PowerMTA User's Guide, bounce categories; Sisimai Lhost/PowerMTA.pm).
        Case(description: "PowerMTA bad-mailbox under X.2.1 → User unknown, hard",
             text: "550 5.2.1 <ann@example.com>... User Unknown", context: QualificationContext(bounceCategory: "bad-mailbox"),
             type: .hard, reason: .userUnknown, rule: "powermta-bad-mailbox"),
        Case(description: "PowerMTA inactive-mailbox → Account disabled, soft",
             text: "550 5.0.0 <ann@example.com>... refused", context: QualificationContext(bounceCategory: "Inactive-Mailbox"),
             type: .soft, reason: .accountDisabled, rule: "powermta-inactive-mailbox"),
        Case(description: "a more specific cause beats the category: mailbox full",
             text: "552 5.2.2 <ann@example.com>... Mailbox full", context: QualificationContext(bounceCategory: "bad-mailbox"),
             type: .soft, reason: .mailboxFull, rule: "mailbox-full-status"),
        Case(description: "a temporary failure in the bad-mailbox category is never hard",
             text: "450 4.2.1 <ann@example.com>... try later", context: QualificationContext(bounceCategory: "bad-mailbox"),
             type: .soft, reason: .userUnknown, rule: "powermta-bad-mailbox"),
        Case(description: "another category leaves the text rules to decide",
             text: "550 5.2.1 <ann@example.com>... User Unknown", context: QualificationContext(bounceCategory: "other"),
             type: .soft, reason: .accountDisabled, rule: "disabled-status"),
    ]

    @Test(arguments: cases)
    func qualifies(_ c: Case) {
        let r = q.qualify(text: c.text, smtpCommand: c.command, context: c.context)
        #expect(r.qualification == Qualification(c.type, c.reason), "rule \(r.rule)")
        #expect(r.rule == c.rule)
        #expect(r.concerns == c.concerns)
    }

    @Test func theDecisionReportsTheCommandItLookedAt() {
        #expect(q.qualify(text: "550 5.2.1 <ann@example.com>... User Unknown (in reply to RCPT TO command)").smtpCommand == .rcpt)
        #expect(q.qualify(text: "550 5.2.1 <ann@example.com>... User Unknown").smtpCommand == nil)
        // The same text with and without a command given apart: two answers (the memo keys on the command).
        let text = "550 5.2.1 <bob@example.com>... User Unknown"
        #expect(q.qualify(text: text).qualification == Qualification(.soft, .accountDisabled))
        #expect(q.qualify(text: text, smtpCommand: .rcpt).qualification == Qualification(.hard, .userUnknown))
        #expect(q.qualify(text: text).qualification == Qualification(.soft, .accountDisabled))
    }

    @Test func anEventIsQualifiedWithTheCommandInItsResponseAndTheCategoryInItsRawBytes() {
        let raw = Array("Reporting-MTA: dns; mta.example.net\n\nFinal-Recipient: rfc822;ann@example.com\nAction: failed\nStatus: 5.2.1\nDiagnostic-Code: smtp;550 5.2.1 <ann@example.com>... User Unknown\nX-PowerMTA-BounceCategory: bad-mailbox\n".utf8)
        #expect(QualificationContext(recipient: "ann@example.com", response: nil, raw: raw, source: .dsn).bounceCategory == "bad-mailbox")
        let e = Event(id: "b", kind: .bounce, delivery: "d", recipient: "ann@example.com", occurredAt: Instant(millisecondsSinceEpoch: 0),
                      final: true, response: "550 5.2.1 <ann@example.com>... User Unknown", source: .dsn, raw: raw)
        #expect(q.qualify(event: e).rule == "powermta-bad-mailbox")
        var atRcpt = e
        atRcpt.raw = []
        atRcpt.response = "550 5.2.1 <ann@example.com>... User Unknown (in reply to RCPT TO command)"
        #expect(q.qualify(event: atRcpt).rule == "user-unknown-disabled-status")
    }

    // MARK: The table's new members

    static func loadError(_ rule: String) -> String? {
        do {
            _ = try RuleTable.load(json: Data(#"{"version":"v","rules":[{\#(rule)}]}"#.utf8), name: "t.json")
            return nil
        } catch {
            return error.description
        }
    }

    @Test func smtpCommandAndBounceCategoryAreCheckedWhenATableLoads() throws {
        let base = #""id":"r","failureType":"soft","failureReason":"refused","source":"RFC 5321 §3.3""#
        #expect(Self.loadError(base + #","smtpCommand":["DATA"]"#) == nil, "a command alone is a condition")
        #expect(Self.loadError(base + #","bounceCategory":["spam-related"]"#) == nil, "a category alone is a condition")
        #expect(Self.loadError(base + #","smtpCommand":["RCPT TO"]"#)?.contains("rules[0].smtpCommand[0] is not an SMTP command") == true)
        #expect(Self.loadError(base + #","smtpCommand":[]"#)?.contains("smtpCommand is empty") == true)
        #expect(Self.loadError(base + #","bounceCategory":["bad mailbox"]"#)?.contains("bounceCategory[0] 'bad mailbox' is not a category") == true)
        #expect(Self.loadError(base + #","bounceCategory":[]"#)?.contains("bounceCategory is empty") == true)
        let table = try RuleTable.load(json: Data(#"{"version":"v","rules":[{\#(base),"smtpCommand":["MAIL","RCPT"]}]}"#.utf8))
        #expect(table.rules[0].smtpCommand == [.mail, .rcpt])
        // The digest covers the new member: the same table without it differs.
        var without = table
        without.rules[0].smtpCommand = nil
        #expect(without.digest != table.digest)
    }

    @Test func everyBuiltInRuleWithANewConditionCitesItsSource() {
        let rules = RuleTable.builtIn.rules.filter { $0.smtpCommand != nil || $0.bounceCategory != nil }
        #expect(Set(rules.map(\.id)) == ["user-unknown-disabled-status", "data-stage-user-unknown", "powermta-bad-mailbox", "powermta-inactive-mailbox",
                                         "mail-command-size", "mail-command-size-status", "mail-command-reply", "auth-command-reply",
                                         "session-refused-reply"])
        // Each cites the section of RFC 5321 that says what a reply at that stage refuses (§3.3 for
        // the mail transaction, §3.1 for the greeting).
        for r in rules where r.smtpCommand != nil {
            #expect(r.source.contains(r.smtpCommand!.contains(.connect) ? "RFC 5321 §3.1" : "RFC 5321 §3.3"), "\(r.id)")
        }
        for r in rules where r.bounceCategory != nil { #expect(r.source.contains("PowerMTA User's Guide"), "\(r.id)") }
    }
}
