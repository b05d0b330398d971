import DeliveryLedger
import LedgerTestSupport
import Testing

/// The seed's two tables (reference/sending-with-enhanced-mta.md, "With / Without Email Feedback
/// Service"; domain.md §3), step by step, for a delivery of four recipients:
///
/// | step | event | classic Success % | classic status | EFS Success % | EFS status |
/// |---|---|---|---|---|---|
/// | 1 | all four relayed | 100 % (starts out at 100 %) | Sent | 0 % (starts out at 0 %) | Taken into account |
/// | 2 | a@ hard bounce | 75 % (decreased) | a Failed | 0 % (no change) | a Failed |
/// | 3 | b@ soft bounce | 75 % (no change) | b Sent | 0 % (no change) | b Taken into account, + reason |
/// | 4 | b@ retry succeeds | 75 % (no change, per the prose) | b Sent | 25 % (increased) | b Sent |
/// | 5 | c@ delivered | 75 % | c Sent | 50 % | c Sent |
/// | 6 | d@ soft bounce | 75 % | d Sent | 50 % | d Taken into account |
/// | 7 | d@ retries fail (timeout) | 50 % (decreased) | d Failed | 50 % (no change) | d Failed |
@Suite struct SeedTablesTests {
    struct Step: Sendable, CustomStringConvertible {
        var description: String
        var events: [Event]
        var classicSuccess: Int64
        var efsSuccess: Int64
        var expected: [String: (classic: MessageStatus, efs: MessageStatus)]
    }

    static let f = EventFactory(delivery: "seed")
    static let a = "a@example.com", b = "b@example.com", c = "c@example.com", d = "d@example.com"

    static let steps: [Step] = [
        Step(description: "relayed", events: [f.declare(toDeliver: 4)] + [a, b, c, d].map { f.relay($0, at: 1) },
             classicSuccess: 4, efsSuccess: 0,
             expected: [a: (.sent, .takenIntoAccount), b: (.sent, .takenIntoAccount), c: (.sent, .takenIntoAccount), d: (.sent, .takenIntoAccount)]),
        Step(description: "hard bounce", events: [f.hardBounce(a, at: 2)], classicSuccess: 3, efsSuccess: 0,
             expected: [a: (.failed, .failed), b: (.sent, .takenIntoAccount)]),
        Step(description: "soft bounce", events: [f.softBounce(b, at: 3)], classicSuccess: 3, efsSuccess: 0,
             expected: [b: (.sent, .takenIntoAccount)]),
        Step(description: "retry succeeds", events: [f.delivered(b, at: 60)], classicSuccess: 3, efsSuccess: 1,
             expected: [b: (.sent, .sent)]),
        Step(description: "delivered", events: [f.delivered(c, at: 61)], classicSuccess: 3, efsSuccess: 2,
             expected: [c: (.sent, .sent)]),
        Step(description: "soft bounce, retrying", events: [f.softBounce(d, at: 62)], classicSuccess: 3, efsSuccess: 2,
             expected: [d: (.sent, .takenIntoAccount)]),
        Step(description: "retries fail", events: [f.timeout(d, at: 5040)], classicSuccess: 2, efsSuccess: 2,
             expected: [d: (.failed, .failed)]),
    ]

    @Test func seedTablesStepByStep() throws {
        let t = try TestLedger()
        for step in Self.steps {
            try t.ledger.append(step.events)
            let classic = try #require(try t.ledger.kpis(delivery: "seed", semantics: .classic))
            let efs = try #require(try t.ledger.kpis(delivery: "seed", semantics: .efs))
            #expect(classic.success == step.classicSuccess, "\(step): classic success")
            #expect(efs.success == step.efsSuccess, "\(step): EFS success")
            #expect(classic.successRate == Double(step.classicSuccess) / 4, "\(step)")
            #expect(efs.successRate == Double(step.efsSuccess) / 4, "\(step)")
            for (recipient, statuses) in step.expected {
                let report = try #require(try t.ledger.status(delivery: "seed", recipient: recipient))
                #expect(report.classic.status == statuses.classic, "\(step): \(recipient) classic")
                #expect(report.efs.status == statuses.efs, "\(step): \(recipient) EFS")
            }
        }
        // The soft-bounced, still-retrying step carried its error reason in both semantics.
        let final = try #require(try t.ledger.status(delivery: "seed", recipient: Self.d))
        #expect(final.classic.failureType == .soft)
        #expect(final.classic.failureReason == .mailboxFull)
        let hard = try #require(try t.ledger.status(delivery: "seed", recipient: Self.a))
        #expect(hard.efs.failureType == .hard)
        #expect(hard.efs.failureReason == .userUnknown)
    }

    @Test func softBounceSetsReasonWhileRetrying() throws {
        let t = try TestLedger()
        try t.ledger.append([Self.f.relay(Self.b, at: 1), Self.f.softBounce(Self.b, at: 3, reason: .unreachable)])
        let report = try #require(try t.ledger.status(delivery: "seed", recipient: Self.b))
        for view in [report.classic, report.efs] {
            #expect(view.retrying)
            #expect(view.failureType == .soft)
            #expect(view.failureReason == .unreachable)
        }
        #expect(report.classic.status == .sent)
        #expect(report.efs.status == .takenIntoAccount)
        let k = try #require(try t.ledger.kpis(delivery: "seed", semantics: .efs))
        #expect(k.retrying == 1)
        #expect(k.takenIntoAccount == 1)
    }
}
