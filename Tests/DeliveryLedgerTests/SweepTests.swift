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

    @Test func aShorterValidityIsHonoured() throws {
        let t = try TestLedger()
        try t.ledger.append([f.declare(toDeliver: 1, validitySeconds: 86_400), f.relay("a@example.com", at: 0), f.softBounce("a@example.com", at: 5)])
        #expect(try t.ledger.effectiveValiditySeconds(delivery: "d1") == 86_400)
        #expect(try t.ledger.sweep(now: EventFactory.at(0).adding(seconds: 86_400)).appended == 1)
    }
}
