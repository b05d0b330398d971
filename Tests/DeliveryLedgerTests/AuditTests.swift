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
}
