import DeliveryLedger
import LedgerTestSupport
import Testing

/// The breakdown by recipient domain (domain.md §3: "processed, delivered, hard, soft per reason",
/// and "no feedback = relayed messages past their validity with no outcome at all"). Each expected
/// value is worked out from those definitions, not copied from output.
@Suite struct DomainBreakdownTests {
    let f = EventFactory()

    @Test func perDomainCountsFollowTheKPIDefinitions() throws {
        let t = try TestLedger()
        // Validity 1 h: messages relayed at minute 0 are past it at minute 60.
        try t.ledger.append([f.declare(toDeliver: 8, validitySeconds: 3_600),
            // example.com: delivered, hard User unknown, retrying (Mailbox full), silent since relay.
            f.relay("a@example.com", at: 0), f.delivered("a@example.com", at: 1),
            f.relay("b@example.com", at: 0), f.hardBounce("b@example.com", at: 1),
            f.relay("c@example.com", at: 0), f.softBounce("c@example.com", at: 5),
            f.relay("d@example.com", at: 0),
            // example.org: failed before relay (policy), timed out (Mailbox full), relayed late (not past validity).
            f.policyRejection("e@example.org", at: 0),
            f.relay("g@example.org", at: 0), f.timeout("g@example.org", at: 60),
            f.relay("h@example.org", at: 30),
            // mx.example.net: only a relay at minute 0, then an auto-reply (no outcome: still no feedback).
            f.relay("i@mx.example.net", at: 0), f.autoReply("i@mx.example.net", at: 2)])
        let b = try #require(try t.ledger.domainBreakdown(delivery: "d1", semantics: .classic, now: EventFactory.at(80)))
        #expect(b.validitySeconds == 3_600)
        #expect(b.domains.map(\.domain) == ["example.com", "example.org", "mx.example.net"])  // by processed: 4, 3, 1
        let com = b.domains[0], org = b.domains[1], net = b.domains[2]
        // example.com: 4 relayed = processed; 1 delivered; hard 1 (User unknown); c retrying; d no feedback
        // (relayed at 0, validity out at 60 ≤ 80, no outcome); c is not "no feedback" (it has a soft failure).
        #expect(com.kpis.processed == 4 && com.kpis.relayed == 4 && com.kpis.delivered == 1)
        #expect(com.kpis.hardBounced == 1 && com.hardByReason == [.userUnknown: 1] && com.softByReason.isEmpty)
        #expect(com.kpis.retrying == 1 && com.noFeedback == 1)
        #expect(com.kpis.deliveredRate == 0.25)
        // example.org: processed = 2 relayed + 1 failed before relay; the policy failure is hard
        // (Address in quarantine), the timeout soft Mailbox full; h relayed at 30: out at 90 > 80.
        #expect(org.kpis.processed == 3 && org.kpis.relayed == 2 && org.kpis.failedBeforeRelay == 1)
        #expect(org.hardByReason == [.addressInQuarantine: 1] && org.softByReason == [.mailboxFull: 1])
        #expect(org.noFeedback == 0 && org.kpis.delivered == 0)
        // mx.example.net: an auto-reply is no outcome (domain.md §3): no feedback.
        #expect(net.kpis.processed == 1 && net.noFeedback == 1)
        #expect(b.noFeedback == 2)
        // The total: the delivery's counts (project's), the sum of the rows.
        let k = try #require(try t.ledger.kpis(delivery: "d1", semantics: .classic))
        #expect(b.total.kpis.processed == k.processed && b.total.kpis.delivered == k.delivered && b.total.kpis.failed == k.failed)
        #expect(b.total.kpis.processed == 8 && b.total.noFeedback == 2 && b.total.hardByReason == [.userUnknown: 1, .addressInQuarantine: 1])
        // At minute 100, h (relayed at 30) is past its validity too.
        #expect(try t.ledger.domainBreakdown(delivery: "d1", semantics: .classic, now: EventFactory.at(100))?.noFeedback == 3)
        #expect(try t.ledger.domainBreakdown(delivery: "unknown", semantics: .classic) == nil)
    }
}
