@testable import DeliveryLedger
import LedgerTestSupport
import Testing

/// The projection behind the log (issue "The projection behind the log"): appends write the log;
/// the projection of the records after the last checkpoint (the tail) is folded in memory and
/// written at checkpoints. Whatever the checkpoints, every answer equals the fold of the whole log.
@Suite struct CheckpointTests {
    typealias Rng = ProjectionLawsTests.Rng

    /// Everything a query answers for one delivery, now and at past points (as-of, known-at).
    struct Answers: Equatable {
        var now: ProjectionLawsTests.Snapshot
        var past: [[DeliveryKPIs]]
        var recipients: [String]
        var deliveries: [String]
        var addresses: [String]
    }

    static func answers(_ ledger: Ledger, delivery: String, instants: [Instant], knownAt: [Instant]) throws -> Answers {
        var past: [[DeliveryKPIs]] = []
        for t in instants {
            for k in knownAt + [nil] as [Instant?] {
                past.append(try Semantics.allCases.map { s in
                    try #require(try ledger.kpis(delivery: delivery, semantics: s, at: TimeBounds(asOf: t, knownAt: k))).kpis
                })
            }
        }
        return Answers(now: try ProjectionLawsTests.snapshot(ledger, delivery: delivery), past: past,
                       recipients: try ledger.recipients(delivery: delivery), deliveries: try ledger.deliveries(),
                       addresses: try ledger.addresses())
    }

    /// Checkpoint + tail = full fold, at random checkpoint positions: the same batches appended to a
    /// ledger that never checkpoints (all tail), one that checkpoints at random moments, and one whose
    /// policy checkpoints every few records give the same answers, before and after a reopen (which
    /// folds the tail again from the log), and `verify` passes on each.
    @Test(arguments: [21, 22, 23, 24] as [UInt64])
    func checkpointPlusTailEqualsTheFullFold(seed: UInt64) throws {
        var rng = Rng(state: seed)
        let events = ProjectionLawsTests.randomDelivery(seed: seed, messages: 80)
        + ProjectionLawsTests.randomDelivery(seed: seed + 100, messages: 20)
        var batches: [[Event]] = []
        var rest = events.shuffled(using: &rng)[...]
        while !rest.isEmpty {
            let n = Int.random(in: 1...30, using: &rng)
            batches.append(Array(rest.prefix(n)))
            rest = rest.dropFirst(n)
        }
        var never = LedgerOptions()
        never.checkpointRecords = .max
        never.checkpointSeconds = .infinity
        var small = LedgerOptions()
        small.checkpointRecords = UInt64.random(in: 1...40, using: &rng)
        let tailOnly = try TestLedger(options: never)
        let random = try TestLedger(options: never)
        let policy = try TestLedger(options: small)
        var knownAt: [Instant] = []
        for batch in batches {
            for t in [tailOnly, random, policy] {
                t.clock.advance(seconds: 1)
                try t.ledger.append(batch)
            }
            knownAt.append(tailOnly.clock.now)
            if Int.random(in: 0..<4, using: &rng) == 0 { try random.ledger.checkpoint() }
        }
        let delivery = "p\(seed)"
        let instants = (0..<6).map { _ in EventFactory.at(Int64.random(in: 0...15_000, using: &rng)) }
        let sampledKnownAt = (0..<3).map { _ in knownAt.randomElement(using: &rng)! }
        let expected = try Self.answers(tailOnly.ledger, delivery: delivery, instants: instants, knownAt: sampledKnownAt)
        #expect(try tailOnly.ledger.projectionInfo().checkpoint == 0)
        for t in [random, policy] {
            #expect(try Self.answers(t.ledger, delivery: delivery, instants: instants, knownAt: sampledKnownAt) == expected)
            #expect(try t.ledger.verify().isHealthy)
        }
        #expect(try policy.ledger.projectionInfo().checkpoint > 0)
        // A new instance folds the tail from the log (as a reader in another process does).
        for t in [tailOnly, random, policy] {
            var options = LedgerOptions()
            options.durable = false
            let reopened = try Ledger(path: t.directory.path("ledger.lmdb"), options: options)
            #expect(try Self.answers(reopened, delivery: delivery, instants: instants, knownAt: sampledKnownAt) == expected)
            #expect(try reopened.verify().isHealthy)
            #expect(try reopened.checkpoint() == UInt64(events.count))
            #expect(try Self.answers(reopened, delivery: delivery, instants: instants, knownAt: sampledKnownAt) == expected)
            #expect(try reopened.verify().isHealthy)
        }
    }

    /// Idempotency is permanent across checkpoints: an event re-sent after its record was
    /// checkpointed, and one re-sent while it is in the tail, are no-ops reporting the original
    /// position; other content under the same id is a conflict naming it.
    @Test func idempotencyHoldsOnBothSidesOfACheckpoint() throws {
        let t = try TestLedger()
        let f = EventFactory()
        let first = try t.ledger.append([f.relay("a@example.com", at: 0, id: "r1")])
        try t.ledger.checkpoint()
        let second = try t.ledger.append([f.relay("b@example.com", at: 0, id: "r2")])
        let again = try t.ledger.append([f.relay("a@example.com", at: 0, id: "r1"), f.relay("b@example.com", at: 0, id: "r2")])
        #expect(again.appended == 0 && again.positions == first.positions + second.positions)
        #expect(throws: LedgerError.self) { try t.ledger.append([f.relay("a@example.com", at: 5, id: "r1")]) }
        #expect(throws: LedgerError.self) { try t.ledger.append([f.relay("b@example.com", at: 5, id: "r2")]) }
        #expect(try t.ledger.basis().position == 2)
    }

    /// A crash between appends and a checkpoint loses nothing: a ledger reopened without its
    /// writer's tail answers from the log.
    @Test func anUncheckpointedTailIsFoldedAgainOnOpen() throws {
        let dir = TemporaryDirectory()
        var options = LedgerOptions()
        options.durable = false
        let f = EventFactory()
        do {
            let ledger = try Ledger(path: dir.path("l.lmdb"), options: options)
            try ledger.append([f.declare(toDeliver: 2), f.relay("a@example.com", at: 0), f.relay("b@example.com", at: 0)])
            try ledger.checkpoint()
            try ledger.append([f.delivered("a@example.com", at: 1), f.hardBounce("b@example.com", at: 2), f.relay("c@example.com", at: 3)])
        }
        let ledger = try Ledger(path: dir.path("l.lmdb"), options: options)
        #expect(try ledger.projectionInfo().checkpoint == 3)
        let k = try #require(try ledger.kpis(delivery: "d1", semantics: .efs))
        #expect(k.success == 1 && k.failed == 1 && k.toDeliver == 3)
        #expect(try ledger.status(delivery: "d1", recipient: "c@example.com")?.classic.status == .sent)
        #expect(try ledger.recipients(delivery: "d1") == ["a@example.com", "b@example.com", "c@example.com"])
    }
}
