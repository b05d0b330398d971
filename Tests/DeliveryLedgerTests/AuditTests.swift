import DeliveryLedger
import LedgerTestSupport
import Testing

@Suite struct AuditTests {
    let f = EventFactory()

    @Test func findsEachKindOfAnomaly() throws {
        let t = try TestLedger(start: EventFactory.at(10))
        try t.ledger.append([
            f.declare(toDeliver: 4, validitySeconds: 86_400),
            f.relay("a@example.com", at: 0), f.delivered("a@example.com", at: 1), f.hardBounce("a@example.com", at: 90, inBand: false),
            f.delivered("b@example.com", at: 2),  // no relay
            f.relay("c@example.com", at: 0),      // no feedback at all
        ])
        t.clock.advance(seconds: 3 * 86_400)
        try t.ledger.append([f.relay("d@example.com", at: 5)])  // recorded three days after it occurred
        let findings = try t.ledger.audit(delivery: "d1", now: EventFactory.at(2 * 1440))
        func kinds(_ r: String) -> [AuditFinding.Kind] { findings.filter { $0.recipient == r }.map(\.kind) }
        #expect(kinds("a@example.com") == [.afterFinalOutcome])
        #expect(kinds("b@example.com") == [.outcomeWithoutRelay])
        #expect(kinds("c@example.com") == [.noFeedbackPastValidity])
        #expect(kinds("d@example.com").contains(.recordedLate))
    }

    /// No feedback: the validity ran out by the audit's instant with no outcome occurred by the expiry
    /// (domain.md §3 "no feedback"; the rule of `sweep` and `domains` too; found by testers).
    @Test func noFeedbackIsJudgedAtTheAuditsInstant() throws {
        let t = try TestLedger(start: EventFactory.at(10))
        try t.ledger.append([f.declare(toDeliver: 1, validitySeconds: 3_600),
                             f.relay("late@example.com", at: 0), f.softBounce("late@example.com", at: 90)])
        func noFeedback(at minutes: Int64) throws -> Bool {
            try t.ledger.audit(delivery: "d1", now: EventFactory.at(minutes)).contains { $0.kind == .noFeedbackPastValidity }
        }
        #expect(try !noFeedback(at: 50))   // validity not yet out (60)
        #expect(try noFeedback(at: 75))    // out, and nothing had occurred by 75
        #expect(try noFeedback(at: 100))   // the retry at 90 came after the expiry: none within the validity
        // The sweep counts it alike (no timeout: nothing was being retried at the expiry), and so does domains.
        #expect(try t.ledger.sweep(now: EventFactory.at(100)).noFeedback == 1)
        #expect(try t.ledger.domainBreakdown(delivery: "d1", semantics: .classic, now: EventFactory.at(100))?.noFeedback == 1)
        #expect(try t.ledger.domainBreakdown(delivery: "d1", semantics: .classic, now: EventFactory.at(50))?.noFeedback == 0)
    }

    /// An event sent again is a no-op in the log, but the audit shows the receipt (when, which
    /// recorded event); the same outcome under another id is a duplicate outcome.
    @Test func reportsDuplicatesReceivedAndDuplicateOutcomes() throws {
        let t = try TestLedger(start: EventFactory.at(10))
        let delivered = f.delivered("a@example.com", at: 1)
        try t.ledger.append([f.relay("a@example.com", at: 0), delivered])
        t.clock.advance(seconds: 60)
        let again = try t.ledger.append([delivered, delivered])
        #expect(again.appended == 0 && again.duplicates == [0, 1])
        var twin = f.delivered("a@example.com", at: 1)
        twin.id = "another-id"
        try t.ledger.append([twin])
        let findings = try t.ledger.audit(delivery: "d1", now: EventFactory.at(20))
        let received = findings.filter { $0.kind == .duplicateReceived }
        #expect(received.count == 1)
        #expect(received.first?.position == 2 && received.first?.recipient == "a@example.com")
        #expect(received.first?.detail.contains("2 times") == true, "\(received)")
        let outcomes = findings.filter { $0.kind == .duplicateOutcome }
        #expect(outcomes.map(\.position) == [3] && outcomes.first?.detail.contains("another-id") == true)
        #expect(try t.ledger.verify().isHealthy)
    }
}
