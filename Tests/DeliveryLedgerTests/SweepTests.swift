import DeliveryLedger
import LedgerTestSupport
import Testing

/// The validity period and the expiry sweep (domain.md §4).
@Suite struct SweepTests {
    let f = EventFactory()

    @Test func retryingMessagesTimeOutAtRelayPlusEffectiveValidity() throws {
        let t = try TestLedger()
        // Declared 5 days: the Enhanced MTA honours at most 3.5 days = 302,400 s.
        try t.ledger.append([f.declare(toDeliver: 4, validitySeconds: 432_000),
                             f.relay("retry@example.com", at: 0), f.softBounce("retry@example.com", at: 30, reason: .mailboxFull),
                             f.relay("silent@example.com", at: 0),
                             f.relay("ok@example.com", at: 0), f.delivered("ok@example.com", at: 1),
                             f.relay("late@example.com", at: 600), f.softBounce("late@example.com", at: 630)])
        #expect(try t.ledger.effectiveValiditySeconds(delivery: "d1") == 302_400)
        // Just before 3.5 days after the first relays: nothing expired.
        let before = try t.ledger.sweep(now: EventFactory.at(0).adding(seconds: 302_399))
        #expect(before.appended == 0 && before.noFeedback == 0)
        // At 3.5 days: retry@ times out; silent@ has no feedback (counted, not failed); late@ not yet.
        let at = try t.ledger.sweep(now: EventFactory.at(0).adding(seconds: 302_400))
        #expect(at.appended == 1 && at.noFeedback == 1)
        #expect(at.noFeedbackByDelivery == ["d1": 1])  // named, so that `ledger sweep` can say which delivery to audit
        let report = try #require(try t.ledger.status(delivery: "d1", recipient: "retry@example.com"))
        #expect(report.classic.status == .failed && report.efs.status == .failed)
        #expect(report.efs.failureType == .soft && report.efs.failureReason == .mailboxFull)
        let timeout = try #require(report.events.last)
        #expect(timeout.event.kind == .timeout && timeout.event.occurredAt == EventFactory.at(0).adding(seconds: 302_400))
        #expect(try t.ledger.status(delivery: "d1", recipient: "silent@example.com")?.efs.status == .takenIntoAccount)
        // Running it again appends nothing new.
        #expect(try t.ledger.sweep(now: EventFactory.at(0).adding(seconds: 302_400)).appended == 0)
        // Later, late@ expires too (its relay was 10 minutes later).
        #expect(try t.ledger.sweep(now: EventFactory.at(600).adding(seconds: 302_400)).appended == 1)
        let k = try #require(try t.ledger.kpis(delivery: "d1", semantics: .classic))
        #expect(k.failed == 2 && k.retrying == 0 && k.success == 2)
    }

    /// domain.md §4: the sweep times out a message "retrying at that moment" — the end of its
    /// validity. A soft failure reported for a later instant neither makes a message without feedback
    /// at the expiry a retrying one, nor gives an earlier one's timeout its reason.
    @Test func theSweepDecidesFromWhatHadOccurredByTheExpiry() throws {
        let t = try TestLedger()
        try t.ledger.append([f.declare(toDeliver: 2, validitySeconds: 3_600),
                             // Relayed at 0, expiry at 60 min; its only soft failure at 90 min.
                             f.relay("late-retry@example.com", at: 0), f.softBounce("late-retry@example.com", at: 90, reason: .mailboxFull),
                             // A soft failure before the expiry (Unreachable), another after it (Mailbox full).
                             f.relay("both@example.com", at: 0), f.softBounce("both@example.com", at: 30, reason: .unreachable),
                             f.softBounce("both@example.com", at: 90, reason: .mailboxFull)])
        let r = try t.ledger.sweep(now: EventFactory.at(120))
        #expect(r.appended == 1 && r.noFeedback == 1 && r.noFeedbackByDelivery == ["d1": 1])
        // late-retry@ had no feedback at 60 min: not failed, no timeout invented.
        let late = try #require(try t.ledger.status(delivery: "d1", recipient: "late-retry@example.com"))
        #expect(!late.events.contains { $0.event.kind == .timeout })
        // both@ was retrying at 60 min with Unreachable: its timeout carries that reason, at the expiry.
        let both = try #require(try t.ledger.status(delivery: "d1", recipient: "both@example.com"))
        let timeout = try #require(both.events.first { $0.event.kind == .timeout })
        #expect(timeout.event.occurredAt == EventFactory.at(60))
        #expect(timeout.event.qualification == Qualification(.soft, .unreachable))
    }

    @Test func aShorterValidityIsHonoured() throws {
        let t = try TestLedger()
        try t.ledger.append([f.declare(toDeliver: 1, validitySeconds: 86_400), f.relay("a@example.com", at: 0), f.softBounce("a@example.com", at: 5)])
        #expect(try t.ledger.effectiveValiditySeconds(delivery: "d1") == 86_400)
        #expect(try t.ledger.sweep(now: EventFactory.at(0).adding(seconds: 86_400)).appended == 1)
    }
}
