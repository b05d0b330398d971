@testable import DeliveryLedger
import Foundation
import Testing

/// The outcomes domain.md §5.3 and the issue "Bounce qualification" require, on texts written for
/// these tests (example.com addresses).
@Suite struct TextQualifierTests {
    let q = TextQualifier.builtIn

    struct Case: Sendable, CustomStringConvertible {
        var description: String
        var text: String
        var status: String? = nil
        var type: FailureType
        var reason: FailureReason
        var final: Bool = true
    }

    static let cases: [Case] = [
        Case(description: "550 without enhanced code, user not found",
             text: "550 Requested action not taken: the user ann@example.com was not found on this server", type: .hard, reason: .userUnknown),
        Case(description: "generic 5.0.0 Status, diagnostic says user unknown",
             text: "smtp; 550 <ann@example.com>... User unknown", status: "5.0.0", type: .hard, reason: .userUnknown),
        Case(description: "5.1.1 in a Gmail multi-line reply",
             text: "550-5.1.1 The email account that you tried to reach does not exist.\r\n550 5.1.1 https://support.google.com/mail/?p=NoSuchUser",
             type: .hard, reason: .userUnknown),
        Case(description: "5.1.0 rejection of the sender",
             text: "550 5.1.0 <news@example.com> Sender rejected: sender domain has no MX", type: .soft, reason: .refused),
        Case(description: "5.1.7 bad sender address",
             text: "553 5.1.7 The sender address <news@example.com> is not a valid RFC 5321 address", type: .soft, reason: .refused),
        Case(description: "5.1.8 sender's system",
             text: "553 5.1.8 <ann@example.com>: Sender address rejected: Domain not found", type: .soft, reason: .refused),
        Case(description: "552 5.2.2 mailbox full is soft",
             text: "552 5.2.2 <ann@example.com>: Mailbox full", type: .soft, reason: .mailboxFull),
        Case(description: "5.7.1 sending IP on a block list",
             text: "554 5.7.1 Service unavailable; Client host [203.0.113.9] blocked using zen.spamhaus.org", type: .soft, reason: .refused),
        Case(description: "550 rate limit",
             text: "550 Too many messages from your IP address, rate limit exceeded", type: .soft, reason: .refused),
        Case(description: "host not found",
             text: "Host or domain name not found. Name service error for name=example.invalid type=MX", type: .soft, reason: .invalidDomain),
        // A failed MX lookup in a provider's or MTA's words (RFC 5321 §5.1), no code: Invalid domain.
        Case(description: "MX lookup failed (Brevo's wording)",
             text: "undefined Unable to find MX of domain no-mx.example.com", type: .soft, reason: .invalidDomain),
        Case(description: "MX lookup failed (other wordings)",
             text: "Could not find an MX record for nowhere.example", type: .soft, reason: .invalidDomain),
        Case(description: "X.1.2 bad destination system",
             text: "550 5.1.2 <ann@nowhere.example>: bad destination system address", type: .soft, reason: .invalidDomain),
        Case(description: "X.2.1 disabled",
             text: "550 5.2.1 The email account that you tried to reach is disabled", type: .soft, reason: .accountDisabled),
        Case(description: "4xx greylisting: a deferral (RFC 6647), retry",
             text: "451 4.7.1 Greylisting in action, please come back later", type: .soft, reason: .unreachable, final: false),
        Case(description: "connection timed out: retry",
             text: "connect to mx.example.com[192.0.2.1]:25: Connection timed out", status: "4.4.1", type: .soft, reason: .unreachable, final: false),
        Case(description: "unmatched 5xx",
             text: "554 Transaction failed", type: .notDefined, reason: .notDefined),
        Case(description: "unmatched 4xx",
             text: "450 Requested mail action not taken", type: .soft, reason: .unreachable, final: false),
        Case(description: "a 4xx user unknown is never hard",
             text: "450 4.1.1 <ann@example.com>: Recipient address rejected: User unknown", type: .soft, reason: .userUnknown, final: false),
    ]

    @Test(arguments: cases)
    func qualifies(_ c: Case) {
        let r = q.qualify(text: c.text, enhancedStatus: c.status)
        #expect(r.qualification == Qualification(c.type, c.reason), "rule \(r.rule)")
        #expect(r.final == c.final, "rule \(r.rule)")
        #expect(r.tableVersion == RuleTable.builtIn.version)
    }

    @Test func deterministicAndReportsTheRule() {
        let text = "550 5.1.1 <ann@example.com>: Recipient address rejected: User unknown"
        let a = q.qualify(text: text), b = q.qualify(text: text)
        #expect(a == b)
        #expect(a.rule == "user-unknown-status")
        #expect(a.enhancedStatus == "5.1.1")
        #expect(a.replyCode == 550)
    }

    @Test func codesAreFoundInText() {
        #expect(TextQualifier.enhancedStatus(in: "550-5.1.1 no")?.description == "5.1.1")
        #expect(TextQualifier.enhancedStatus(in: "version 10.5.1.2 then #4.2.2")?.description == "4.2.2")
        #expect(TextQualifier.enhancedStatus(in: "Status: 5.0.0 (then) 5.7.1 blocked")?.description == "5.7.1")
        #expect(TextQualifier.enhancedStatus(in: "nothing") == nil)
        #expect(TextQualifier.replyCode(in: "host mx.example.com said: 552 5.2.2 full") == 552)
        #expect(TextQualifier.replyCode(in: "Connection timed out") == nil)
    }

    @Test func aUserTableOverridesTheBuiltIn() throws {
        let table = RuleTable(version: "mine-1", rules: [
            QualificationRule(id: "vip", text: "vip", failureType: .ignored, failureReason: .errorIgnored, source: "test"),
        ])
        let mine = try TextQualifier(table: table)
        let r = mine.qualify(text: "550 vip mailbox")
        #expect(r.rule == "vip" && r.qualification == Qualification(.ignored, .errorIgnored) && r.tableVersion == "mine-1")
        #expect(mine.qualify(text: "550 other").rule == "unmatched")
    }

    @Test func badTablesAreRejectedNamingTheRule() {
        let json = #"{"version":"v","rules":[{"id":"a","enhancedStatus":"5.1","failureType":"hard","failureReason":"userUnknown","source":"s"}]}"#
        #expect(throws: RuleTable.LoadError.self) { try RuleTable.load(json: Data(json.utf8)) }
        let dup = #"{"version":"v","rules":[{"id":"a","replyCode":"5xx","failureType":"hard","failureReason":"userUnknown","source":"s"},{"id":"a","replyCode":"5xx","failureType":"hard","failureReason":"userUnknown","source":"s"}]}"#
        do {
            _ = try RuleTable.load(json: Data(dup.utf8))
            Issue.record("a duplicate id must be rejected")
        } catch {
            #expect(error.description.contains("'a' is used twice"))
        }
    }
}

/// The rules' patterns read a text's first 4,096 bytes (``TextQualifier/scannedLength``: eight SMTP
/// reply lines of 512 octets, RFC 5321 §4.5.3.1.5); the codes are read from the whole text. A
/// verdict in the first line is found whatever follows; one past the limit is not read, and a cut
/// never splits a UTF-8 sequence.
@Test func theRulesReadTheFirst4096BytesOfAText() {
    let q = TextQualifier.builtIn
    let filler = String(repeating: "é lorem ipsum ", count: 2000)  // 30,000 bytes, 2-byte characters among them
    let first = q.qualify(text: "550 5.1.1 <ann@example.com>: Recipient address rejected: User unknown " + filler)
    #expect(first.qualification == Qualification(.hard, .userUnknown) && first.rule != "unmatched")
    // Past the limit, "User unknown" is not read: the answer is the one for the text without it.
    let late = q.qualify(text: "550 " + filler + " User unknown")
    let without = q.qualify(text: "550 " + filler)
    #expect(late.rule == without.rule && late.qualification == without.qualification && late.replyCode == 550)
    #expect(late.qualification != Qualification(.hard, .userUnknown))
    for cut in 4090...4097 {
        let text = String(repeating: "a", count: cut - 4090) + String(repeating: "é", count: 3000)
        #expect(TextQualifier.scanned(text).utf8.count <= TextQualifier.scannedLength)
        #expect(text.hasPrefix(TextQualifier.scanned(text)))
    }
}
