import DeliveryLedger
import Testing
@testable import LedgerIngest

/// A bounce is read whole or not at all (README "Bounce messages"): a notification or a report
/// longer than the reader examines is refused with an error, never read in part — the recipients
/// past the limit would otherwise be lost without a word (found by a tester: a plain-text bounce
/// naming 2,000 recipients gave 472 events and no message).
@Suite struct DSNLimitsTests {
    /// A Postfix-style plain-text bounce naming `count` recipients, each with its own reply.
    static func plainBounce(recipients count: Int, returned: String = "") -> [UInt8] {
        var body = "This is the mail system at host mail.example.com.\n\nI'm sorry to have to inform you that your message could not\nbe delivered to one or more recipients.\n\n"
        for i in 0..<count {
            let code = i % 2 == 0 ? "550 5.1.1" : "452 4.2.2"
            let why = i % 2 == 0 ? "User unknown" : "Mailbox full"
            body += "<user\(i)@example.org>: host mx.example.org[192.0.2.1] said: \(code) <user\(i)@example.org>... \(why) (in reply to RCPT TO command)\n\n"
        }
        let message = """
            From: MAILER-DAEMON@mail.example.com (Mail Delivery System)
            To: news@example.com
            Subject: Undelivered Mail Returned to Sender
            Date: Tue, 1 Dec 2026 10:00:00 +0000
            X-Delivery-ID: d1
            Content-Type: text/plain

            \(body)\(returned)
            """
        return Array(message.utf8)
    }

    @Test func aPlainBounceWithSixHundredRecipientsIsReadWhole() throws {
        let parsed = try DSNReader.read(Self.plainBounce(recipients: 600), file: "b.eml", options: DSNOptions())
        #expect(parsed.events.count == 600)
        #expect(Set(parsed.events.map(\.recipient)).count == 600)
        // Each recipient gets its own reply: the even ones 5.1.1 user unknown (hard), the odd ones
        // 4.2.2 mailbox full (soft) — domain.md §5.3, RFC 3463.
        for e in parsed.events {
            let i = Int(e.recipient.dropFirst(4).prefix { $0 != "@" })!
            #expect(e.enhancedStatus == (i % 2 == 0 ? "5.1.1" : "4.2.2"), "\(e.recipient): \(e.enhancedStatus ?? "none")")
        }
        #expect(parsed.events.last?.recipient == "user599@example.org")
    }

    @Test func aLongReturnedMessageDoesNotCountAgainstTheLimit() throws {
        // The returned copy is cut off before the limit is applied.
        let original = "From: news@example.com\nTo: user0@example.org\nSubject: Spring sale\nMessage-ID: <1@example.com>\nReceived: from a by b; Tue, 1 Dec 2026 09:59:00 +0000\n\n"
            + String(repeating: "A long newsletter line that the bounce quotes back to its sender.\n", count: 8000)
        let parsed = try DSNReader.read(Self.plainBounce(recipients: 3, returned: "--- Below this line is a copy of the message.\n\n" + original),
                                        file: "b.eml", options: DSNOptions())
        #expect(parsed.events.map(\.recipient) == ["user0@example.org", "user1@example.org", "user2@example.org"])
    }

    @Test func aPlainBounceLongerThanTheReaderExaminesIsRefusedWhole() {
        // 2,600 recipients × ~150 bytes: past the 256 KiB the reader examines.
        do {
            let parsed = try DSNReader.read(Self.plainBounce(recipients: 2600), file: "big.eml", options: DSNOptions())
            Issue.record("expected an error, got \(parsed.events.count) events")
        } catch {
            #expect(error.file == "big.eml")
            #expect(error.field == "body")
            #expect(error.message.contains("refused whole"), "\(error.message)")
        }
    }

    @Test func aPlainBounceNamingMoreThanAThousandRecipientsIsRefusedWhole() {
        do {
            let parsed = try DSNReader.read(Self.plainBounce(recipients: 1200), file: "many.eml", options: DSNOptions())
            Issue.record("expected an error, got \(parsed.events.count) events")
        } catch {
            #expect(error.field == "body")
            #expect(error.message.contains("1200 failed recipients"), "\(error.message)")
        }
    }

    @Test func aStatusReportWithMoreThanAThousandRecipientBlocksIsRefusedWhole() {
        let boundary = "b0undary"
        var blocks = ""
        for i in 0..<1001 {
            blocks += "\nFinal-Recipient: rfc822; user\(i)@example.org\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\n"
        }
        let message = """
            From: MAILER-DAEMON@mx.example.net
            To: news@example.com
            Subject: Undelivered Mail Returned to Sender
            Date: Mon, 2 Nov 2026 10:15:00 +0000
            X-Delivery-ID: d1
            MIME-Version: 1.0
            Content-Type: multipart/report; report-type=delivery-status; boundary="\(boundary)"

            --\(boundary)
            Content-Type: text/plain

            Delivery failed.

            --\(boundary)
            Content-Type: message/delivery-status

            Reporting-MTA: dns; mx.example.net
            \(blocks)
            --\(boundary)--
            """
        do {
            let parsed = try DSNReader.read(Array(message.utf8), file: "report.eml", options: DSNOptions())
            Issue.record("expected an error, got \(parsed.events.count) events")
        } catch {
            #expect(error.field == "Final-Recipient")
            #expect(error.message.contains("more than 1000 recipient blocks"), "\(error.message)")
        }
    }
}
