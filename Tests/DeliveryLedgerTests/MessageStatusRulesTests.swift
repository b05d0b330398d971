import DeliveryLedger
import LedgerTestSupport
import Testing

/// The outcome-precedence rules of domain.md §3, one by one.
@Suite struct MessageStatusRulesTests {
    let f = EventFactory()
    let r = "someone@example.com"

    func views(_ events: [Event]) throws -> (MessageStatusView, MessageStatusView) {
        let t = try TestLedger()
        try t.ledger.append(events)
        let report = try #require(try t.ledger.status(delivery: "d1", recipient: r))
        return (report.classic, report.efs)
    }

    @Test func asyncBounceAfterDeliveredEndsFailed() throws {
        let (c, e) = try views([f.relay(r, at: 0), f.delivered(r, at: 1), f.hardBounce(r, at: 600, inBand: false)])
        #expect(c.status == .failed && e.status == .failed)
        #expect(c.failureReason == .userUnknown)
    }

    @Test func deliveryAfterFinalSoftFailureEndsSent() throws {
        let (c, e) = try views([f.relay(r, at: 0), f.finalSoftBounce(r, at: 1), f.delivered(r, at: 90)])
        #expect(c.status == .sent && e.status == .sent)
        #expect(c.failureType == nil)
    }

    @Test func retryNeverReplacesFinalOutcome() throws {
        // A late-arriving retry that happened after the delivery does not reopen the message.
        let (c, e) = try views([f.relay(r, at: 0), f.delivered(r, at: 5), f.softBounce(r, at: 9)])
        #expect(c.status == .sent && e.status == .sent && !e.retrying)
    }

    @Test func latestFinalByValidTimeNotArrival() throws {
        // The bounce happened before the delivery but arrives after it: delivered is the latest.
        let (c, e) = try views([f.relay(r, at: 0), f.delivered(r, at: 30), f.finalSoftBounce(r, at: 10)])
        #expect(c.status == .sent && e.status == .sent)
    }

    @Test func outcomeWithoutRelayImpliesRelay() throws {
        let (c, e) = try views([f.softBounce(r, at: 3)])
        #expect(c.status == .sent)
        #expect(e.status == .takenIntoAccount)
        let t = try TestLedger()
        try t.ledger.append([f.delivered(r, at: 3)])
        let k = try #require(try t.ledger.kpis(delivery: "d1", semantics: .efs))
        #expect(k.relayed == 1 && k.processed == 1 && k.delivered == 1)
    }

    @Test func complaintAutoReplyAndUnsubscribeNeverChangeStatus() throws {
        let unsub = Event(id: "u", kind: .unsubscribe, delivery: "d1", recipient: r, occurredAt: EventFactory.at(9))
        let (c, e) = try views([f.relay(r, at: 0), f.autoReply(r, at: 5), f.complaint(r, at: 6), unsub])
        #expect(c.status == .sent)
        #expect(e.status == .takenIntoAccount)
        #expect(c.failureType == nil)
        let (c2, e2) = try views([f.autoReply(r, at: 5)])
        #expect(c2.status == .pending && e2.status == .pending)
    }

    @Test func failureBeforeRelayIsFailedButNotABounce() throws {
        let t = try TestLedger()
        try t.ledger.append([f.declare(toDeliver: 2), f.policyRejection(r, at: 0), f.relay("x@example.com", at: 0),
                             f.hardBounce("x@example.com", at: 1)])
        for s in Semantics.allCases {
            let k = try #require(try t.ledger.kpis(delivery: "d1", semantics: s))
            #expect(k.failed == 2)
            #expect(k.failedBeforeRelay == 1)
            #expect(k.bounced == 1)
            #expect(k.relayed == 1)
            #expect(k.processed == 2)
            #expect(k.bounceRate == 1.0)  // 1 bounced / 1 relayed: the policy failure is not in it
            #expect(k.failedByType[.hard] == 2)
            #expect(k.failedByReason[.addressInQuarantine] == 1)
            #expect(k.failedByReason[.userUnknown] == 1)
        }
        let report = try #require(try t.ledger.status(delivery: "d1", recipient: r))
        #expect(report.classic.status == .failed && report.efs.status == .failed)
    }

    @Test("hard-bounce rate = hard failures after relay / relayed: a hard failure before relay and soft bounces are not in it; as-of and rebuilt KPIs agree")
    func hardBounceRate() throws {
        let t = try TestLedger()
        let rs = (0..<4).map { "h\($0)@example.com" }
        _ = try t.ledger.append([f.declare(toDeliver: 5)] + rs.map { f.relay($0, at: 0) } + [
            f.hardBounce(rs[0], at: 1),       // hard, after relay: counted
            f.finalSoftBounce(rs[1], at: 1),  // soft, after relay: a bounce, not a hard one
            f.delivered(rs[2], at: 1),
            f.policyRejection(r, at: 0),      // hard, before relay: failed, not a bounce
        ])
        for s in Semantics.allCases {
            let k = try #require(try t.ledger.kpis(delivery: "d1", semantics: s))
            #expect(k.relayed == 4 && k.bounced == 2 && k.failedBeforeRelay == 1)
            #expect(k.hardBounced == 1)
            #expect(k.hardBounceRate == 0.25)
            #expect(k.bounceRate == 0.5)
            let asOf = try #require(try t.ledger.kpis(delivery: "d1", semantics: s, at: TimeBounds(asOf: EventFactory.at(2))))
            #expect(asOf.kpis.hardBounced == 1 && asOf.kpis.hardBounceRate == 0.25)
            let before = try #require(try t.ledger.kpis(delivery: "d1", semantics: s, at: TimeBounds(asOf: EventFactory.at(1).adding(seconds: -1))))
            #expect(before.kpis.hardBounced == 0 && before.kpis.hardBounceRate == 0)
        }
        let incremental = try t.ledger.kpis(delivery: "d1", semantics: .classic)
        _ = try t.ledger.rebuildProjection()
        #expect(try t.ledger.kpis(delivery: "d1", semantics: .classic) == incremental)
        #expect(try t.ledger.verify().problems.isEmpty)
        // Nothing relayed: no rate.
        let u = try TestLedger()
        _ = try u.ledger.append([f.policyRejection(r, at: 0)])
        #expect(try u.ledger.kpis(delivery: "d1", semantics: .classic)?.hardBounceRate == nil)
    }

    @Test func kpiDefinitions() throws {
        let t = try TestLedger()
        let rs = (0..<6).map { "r\($0)@example.com" }
        try t.ledger.append([f.declare(toDeliver: 10)] + rs.prefix(5).map { f.relay($0, at: 0) } + [
            f.delivered(rs[0], at: 1), f.delivered(rs[1], at: 1),
            f.hardBounce(rs[2], at: 1),
            f.softBounce(rs[3], at: 1),
            f.autoReply(rs[5], at: 2),  // seen, never relayed: pending
        ])
        let c = try #require(try t.ledger.kpis(delivery: "d1", semantics: .classic))
        let e = try #require(try t.ledger.kpis(delivery: "d1", semantics: .efs))
        #expect(c.toDeliver == 10)
        // classic: Sent = relayed without final failure = r0 r1 r3 r4
        #expect(c.success == 4 && c.sent == 4)
        #expect(c.successRate == 0.4)
        #expect(e.success == 2)
        #expect(e.takenIntoAccount == 2 && c.takenIntoAccount == 0)
        #expect(c.failed == 1 && e.failed == 1)
        #expect(c.retrying == 1)
        #expect(c.relayed == 5 && c.processed == 5)
        // pending: r5 seen but not relayed, plus 10 - 6 declared recipients never seen
        #expect(c.pending == 5)
        #expect(c.bounceRate == 0.2)
        #expect(c.deliveredRate == 0.4)
        // Undeclared: to deliver = distinct messages seen.
        let u = try TestLedger()
        try u.ledger.append([f.relay(rs[0], at: 0), f.relay(rs[1], at: 0), f.relay(rs[1], at: 0, id: "again")])
        #expect(try u.ledger.kpis(delivery: "d1", semantics: .classic)?.toDeliver == 2)
    }

    @Test func declarationLatestValueWins() throws {
        let t = try TestLedger()
        try t.ledger.append([f.declare(toDeliver: 100, validitySeconds: 432_000, at: 0),
                             f.declare(toDeliver: 90, at: 10), f.declare(toDeliver: 80, at: 5)])
        let d = try t.ledger.declaration(delivery: "d1")
        #expect(d.toDeliver == 90)
        #expect(d.validitySeconds == 432_000)
    }

    @Test func efsFlagInForceAtAnInstant() throws {
        let t = try TestLedger()
        #expect(try t.ledger.efsEnabled(at: EventFactory.at(100)) == nil)
        try t.ledger.append([EventFactory.efs(true, at: 10), EventFactory.efs(false, at: 50)])
        #expect(try t.ledger.efsEnabled(at: EventFactory.at(5)) == nil)
        #expect(try t.ledger.efsEnabled(at: EventFactory.at(10)) == true)
        #expect(try t.ledger.efsEnabled(at: EventFactory.at(49)) == true)
        #expect(try t.ledger.efsEnabled(at: EventFactory.at(50)) == false)
    }
}
