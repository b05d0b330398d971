import DeliveryLedger
import Foundation
import Testing

/// A 4xx reply is never a hard failure, even when the MTA that reports it gave up with a class-5
/// status (issue #14). RFC 5321 §4.2.1: a 4yz reply is a transient negative completion ("the
/// command was not accepted … but the error condition is temporary, and the action may be
/// requested again"); domain.md §5.1: "A temporary (4xx / X.-class 4) failure is never hard".
/// The DSN reader already decides so at ingest; the text qualifier — which `ledger qualify` and
/// re-projection use — now decides the same. Texts written for these tests (example.com
/// addresses); each expected value is worked out from the rules, not copied from output.
@Suite("Transient replies under a class-5 status (qualification)")
struct TransientReplyQualificationTests {
    let q = TextQualifier.builtIn

    /// Postfix with `unknown_local_recipient_reject_code = 450` answers an unknown address with
    /// `450 4.1.1`; an MTA that gave up on it reports `Status: 5.0.0`. The generic status is kept
    /// (its class differs from the diagnostic's), so no X.1.1 rule applies; the text says
    /// "user unknown" (user-unknown-text, User unknown, hard) — but the reply is 4xx, so soft; the
    /// MTA gave up (class-5 status), so final.
    @Test func a450UserUnknownUnderAGenericStatus5IsSoftAndFinal() {
        let r = q.qualify(text: "450 4.1.1 <ann@example.com>: Recipient address rejected: User unknown in local recipient table",
                          enhancedStatus: "5.0.0")
        #expect(r.qualification == Qualification(.soft, .userUnknown))
        #expect(r.final)
        #expect(r.replyCode == 450)
        #expect(r.enhancedStatus == "5.0.0")
    }

    /// The same without an enhanced code in the text: still the 4xx reply decides soft.
    @Test func a450WithoutEnhancedCodeUnderStatus5IsSoft() {
        let r = q.qualify(text: "450 <ann@example.com>: User unknown", enhancedStatus: "5.0.0")
        #expect(r.qualification.type == .soft)
        #expect(r.qualification.reason == .userUnknown)
        #expect(r.final)
    }

    /// A 4xx reply code reported apart from the text (a webhook's error code) counts the same.
    @Test func aGiven4xxReplyCodeIsSoft() {
        let r = q.qualify(text: "User unknown", enhancedStatus: "5.0.0", replyCode: 451)
        #expect(r.qualification == Qualification(.soft, .userUnknown))
    }

    /// Unchanged: a 5xx reply under the same status stays User unknown, hard; a 4.1.1 alone is
    /// soft and not final (the MTA retries).
    @Test func permanentAndTemporaryStatusesAreUnchanged() {
        let permanent = q.qualify(text: "550 <ann@example.com>: User unknown", enhancedStatus: "5.0.0")
        #expect(permanent.qualification == Qualification(.hard, .userUnknown))
        #expect(permanent.final)
        let temporary = q.qualify(text: "450 4.1.1 <ann@example.com>: User unknown")
        #expect(temporary.qualification == Qualification(.soft, .userUnknown))
        #expect(!temporary.final)
    }

    /// Re-projection qualifies the stored event (`qualify(event:)`: its response, its recorded
    /// status and reply code): a DSN event recorded soft at ingest must not turn hard.
    @Test func reQualifyingTheStoredEventKeepsItSoft() {
        let e = Event(id: "t1", kind: .bounce, delivery: "d", recipient: "ann@example.com",
                      occurredAt: Instant(millisecondsSinceEpoch: 0), final: true, inBand: false, smtpCode: 450,
                      enhancedStatus: "5.0.0", response: "450 <ann@example.com>: User unknown in local recipient table",
                      qualification: Qualification(.soft, .userUnknown), qualifier: "rules#user-unknown-text", source: .dsn)
        #expect(q.qualify(event: e).qualification == Qualification(.soft, .userUnknown))
    }
}
