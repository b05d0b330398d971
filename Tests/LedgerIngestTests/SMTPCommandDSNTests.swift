import DeliveryLedger
import Foundation
import Testing
@testable import LedgerIngest

/// Issue #14: the DSN reader carries the SMTP command the reply answered from the human-readable
/// part into the event's text, and PowerMTA's bounce category in the event's raw bytes, so the rule
/// table's `smtpCommand` and `bounceCategory` conditions decide at ingest and again at re-projection.
/// Reports written for these tests (example.org addresses).
@Suite("DSN reader: SMTP command and bounce category")
struct SMTPCommandDSNTests {
    let version = RuleTable.builtIn.version
    static let disabledUnknown = "smtp; 550 5.2.1 <ann@example.org>... User Unknown"

    /// The event's qualification must be the one the table gives the event itself (re-projection).
    func reQualified(_ e: Event) -> String { TextQualifier.builtIn.qualify(event: e).qualifierTag }

    @Test("X.2.1 'User Unknown' whose human-readable part says RCPT TO: User unknown, hard; the words are kept")
    func rcptStageFromTheNotification() throws {
        let report = DSNSamples.report(status: "5.2.1", diagnostic: Self.disabledUnknown,
                                       notification: "<ann@example.org>: host mx.example.org[192.0.2.10] said: 550 5.2.1\n    <ann@example.org>... User Unknown (in reply to RCPT TO\n    command)")
        let e = try #require(try dsnRead(report).events.first)
        #expect(e.response == "550 5.2.1 <ann@example.org>... User Unknown (in reply to RCPT TO command)")
        #expect(e.qualification == Qualification(.hard, .userUnknown))
        #expect(e.qualifier == "\(version)#user-unknown-disabled-status")
        #expect(reQualified(e) == e.qualifier)
    }

    @Test("X.2.1 'User Unknown' with no command named: Account disabled, soft (RFC 3463 X.2.1: the mailbox exists)")
    func noStage() throws {
        let report = DSNSamples.report(status: "5.2.1", diagnostic: Self.disabledUnknown,
                                       notification: "<ann@example.org>: 550 5.2.1 <ann@example.org>... User Unknown")
        let e = try #require(try dsnRead(report).events.first)
        #expect(e.qualification == Qualification(.soft, .accountDisabled))
        #expect(e.qualifier == "\(version)#disabled-status")
        #expect(reQualified(e) == e.qualifier)
    }

    @Test("PowerMTA's X-PowerMTA-BounceCategory bad-mailbox: User unknown, hard, read from the recipient's block")
    func powerMTACategory() throws {
        let report = DSNSamples.report(status: "5.2.1", diagnostic: Self.disabledUnknown,
                                       extraFields: "X-PowerMTA-BounceCategory: bad-mailbox\n",
                                       notification: "  <ann@example.org>  delivery failed; will not continue trying")
        let e = try #require(try dsnRead(report).events.first)
        #expect(e.qualification == Qualification(.hard, .userUnknown))
        #expect(e.qualifier == "\(version)#powermta-bad-mailbox")
        #expect(reQualified(e) == e.qualifier)
    }

    @Test("a Sendmail transcript refused at DATA: 'Unknown user' is a refused message, not an unknown address")
    func dataStageTranscript() throws {
        let report = DSNSamples.report(status: "5.0.0", diagnostic: "smtp; 550 Unknown user ann@example.org",
                                       notification: "... while talking to mx.example.org.:\n>>> DATA\n<<< 550 Unknown user ann@example.org\n554 5.0.0 Service unavailable")
        let e = try #require(try dsnRead(report).events.first)
        #expect(e.response == "550 Unknown user ann@example.org (>>> DATA)")
        #expect(e.qualification == Qualification(.soft, .refused))
        #expect(e.qualifier == "\(version)#data-stage-user-unknown")
        #expect(reQualified(e) == e.qualifier)
    }
}
