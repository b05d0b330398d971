import DeliveryLedger
import LedgerTestSupport
import Testing

/// Point-in-time answers (domain.md §7): as-of (valid time) and known-at (transaction time).
@Suite struct TimeTravelTests {
    let f = EventFactory()

    /// The seed's picture through time on one delivery: right after relay classic shows 100 % and
    /// EFS 0 %; as deliveries and failures come in, classic falls and EFS rises.
    @Test func seedTablesAsOfEachInstant() throws {
        let t = try TestLedger()
        let rs = ["a", "b", "c", "d"].map { "\($0)@example.com" }
        try t.ledger.append([f.declare(toDeliver: 4)] + rs.map { f.relay($0, at: 0) } + [
            f.hardBounce(rs[0], at: 5), f.softBounce(rs[1], at: 10), f.delivered(rs[2], at: 20),
            f.delivered(rs[1], at: 60), f.softBounce(rs[3], at: 30), f.timeout(rs[3], at: 5040),
        ])
        let expectations: [(minute: Int64, classic: Double, efs: Double)] = [
            (1, 1.00, 0.00),   // relayed: classic 100 %, EFS 0 %
            (6, 0.75, 0.00),   // hard bounce: classic decreases, EFS no change
            (11, 0.75, 0.00),  // soft bounce: no change in either
            (21, 0.75, 0.25),  // c delivered: EFS increases
            (61, 0.75, 0.50),  // b's retry succeeded: EFS increases, classic no change
            (5041, 0.50, 0.50),  // d's retries failed (timeout): classic decreases, EFS no change
        ]
        for e in expectations {
            let bounds = TimeBounds(asOf: EventFactory.at(e.minute))
            let c = try #require(try t.ledger.kpis(delivery: "d1", semantics: .classic, at: bounds))
            let x = try #require(try t.ledger.kpis(delivery: "d1", semantics: .efs, at: bounds))
            #expect(c.kpis.successRate == e.classic, "classic at minute \(e.minute)")
            #expect(x.kpis.successRate == e.efs, "EFS at minute \(e.minute)")
            #expect(c.basis.asOf == EventFactory.at(e.minute))
        }
    }

    /// A late-arriving bounce: known-at before its recording gives the old answer, after it the new
    /// one; each answer names its basis.
    @Test func knownAtBeforeAndAfterALateBounce() throws {
        let t = try TestLedger()
        try t.ledger.append([f.relay("a@example.com", at: 0), f.delivered("a@example.com", at: 1)])
        let before = t.clock.now
        t.clock.advance(seconds: 3600)
        try t.ledger.append([f.hardBounce("a@example.com", at: 2, inBand: false)])  // async bounce, recorded an hour later
        let then = try #require(try t.ledger.status(delivery: "d1", recipient: "a@example.com", at: TimeBounds(knownAt: before)))
        let now = try #require(try t.ledger.status(delivery: "d1", recipient: "a@example.com", at: TimeBounds(knownAt: t.clock.now)))
        #expect(then.efs.status == .sent && then.basis.position == 2 && then.basis.knownAt == before)
        #expect(now.efs.status == .failed && now.basis.position == 3)
        // A delivery first recorded after the known-at instant is unknown then.
        t.clock.advance(seconds: 60)
        try t.ledger.append([EventFactory(delivery: "d2").relay("b@example.com", at: 3)])
        #expect(try t.ledger.kpis(delivery: "d2", semantics: .classic, at: TimeBounds(knownAt: before)) == nil)
        #expect(try t.ledger.kpis(delivery: "d2", semantics: .classic, at: TimeBounds(knownAt: t.clock.now))?.kpis.relayed == 1)
        let k = try #require(try t.ledger.kpis(delivery: "d1", semantics: .efs, at: TimeBounds(knownAt: before)))
        #expect(k.kpis.delivered == 1 && k.kpis.failed == 0)
        // Before its first record the delivery was unknown, as it was to a reader then (not a delivery of zeros).
        #expect(try t.ledger.kpis(delivery: "d1", semantics: .efs, at: TimeBounds(knownAt: before.adding(seconds: -1))) == nil)
    }

    /// Property: the answer at (as-of, known-at) equals a fold from scratch over exactly the events
    /// those bounds select.
    @Test(arguments: [21, 22, 23] as [UInt64])
    func boundedProjectionEqualsAFoldOverTheSelectedEvents(seed: UInt64) throws {
        var rng = ProjectionLawsTests.Rng(state: seed)
        let (t, all) = try Self.appendedInRandomBatches(seed: seed, messages: 40, largestBatch: 20, using: &rng)
        let delivery = "p\(seed)"
        for _ in 0..<8 {
            let asOf = Bool.random(using: &rng) ? all.randomElement(using: &rng)!.event.occurredAt : nil
            let knownAt = Bool.random(using: &rng) ? all.randomElement(using: &rng)!.recordedAt : nil
            let bounds = TimeBounds(asOf: asOf, knownAt: knownAt)
            let chosen = all.filter { ($0.event.occurredAt <= (asOf ?? .latest)) && ($0.recordedAt <= (knownAt ?? .latest)) }
            var byMessage: [String: [RecordedEvent]] = [:]
            for r in chosen where r.event.kind.isMessageEvent { byMessage[r.event.recipient, default: []].append(r) }
            for s in Semantics.allCases {
                let expectedSuccess = byMessage.values.filter { MessageState.fold($0).view(s).status == .sent }.count
                let expectedFailed = byMessage.values.filter { MessageState.fold($0).view(s).status == .failed }.count
                let k = try #require(try t.ledger.kpis(delivery: delivery, semantics: s, at: bounds))
                #expect(k.kpis.success == Int64(expectedSuccess), "\(bounds)")
                #expect(k.kpis.failed == Int64(expectedFailed), "\(bounds)")
                let known = knownAt.map { k in all.filter { $0.recordedAt <= k } } ?? all
                #expect(k.basis.position == (known.map(\.position).max() ?? 0))
            }
            for (recipient, events) in byMessage.prefix(5) {
                let report = try #require(try t.ledger.status(delivery: delivery, recipient: recipient, at: bounds))
                let state = MessageState.fold(events)
                #expect(report.classic == state.view(.classic) && report.efs == state.view(.efs))
            }
        }
    }
}

extension TimeTravelTests {
    /// Each timeline point equals the KPIs as of its bucket's end.
    @Test func timelinePointsAreTheKPIsAsOfEachBucketEnd() throws {
        let t = try TestLedger()
        try t.ledger.append(ProjectionLawsTests.randomDelivery(seed: 31, messages: 30))
        let points = try t.ledger.timeline(delivery: "p31", bucketSeconds: 3600)
        #expect(points.count > 2)
        for p in points {
            #expect(p.classic == (try t.ledger.kpis(delivery: "p31", semantics: .classic, at: TimeBounds(asOf: p.at)))?.kpis)
            #expect(p.efs == (try t.ledger.kpis(delivery: "p31", semantics: .efs, at: TimeBounds(asOf: p.at)))?.kpis)
        }
        let relays = points.map(\.relays).reduce(0, +)
        var expected = 0
        try t.ledger.forEachEvent { if $0.event.kind == .relay { expected += 1 }; return true }
        #expect(relays == expected)
    }
}

extension TimeTravelTests {
    /// Property: the KPIs at (as-of, known-at) — read from the valid-time steps and minute
    /// checkpoints — equal, field for field, the KPIs of a fresh ledger holding exactly the events
    /// those bounds select; also after a rebuild from the log (``ProjectionRebuild``: steps grouped
    /// per transaction and bulk-loaded, instead of written by each append).
    @Test(arguments: [41, 42, 43, 44] as [UInt64])
    func pastKPIsEqualAFreshLedgerOfTheSelectedEvents(seed: UInt64) throws {
        var rng = ProjectionLawsTests.Rng(state: seed)
        let (t, all) = try Self.appendedInRandomBatches(seed: seed, messages: 50, largestBatch: 25, using: &rng)
        let delivery = "p\(seed)"
        var cases: [TimeBounds] = []
        for _ in 0..<12 {
            // Instants on events, and between them (a random number of milliseconds off, across minutes).
            var asOf = Bool.random(using: &rng) ? all.randomElement(using: &rng)!.event.occurredAt : nil
            if let a = asOf, Bool.random(using: &rng) {
                asOf = Instant(millisecondsSinceEpoch: a.millisecondsSinceEpoch + Int64.random(in: -90_000...90_000, using: &rng))
            }
            let knownAt = Bool.random(using: &rng) ? all.randomElement(using: &rng)!.recordedAt : nil
            cases.append(TimeBounds(asOf: asOf, knownAt: knownAt))
        }
        func check() throws {
            for bounds in cases where !bounds.isUnbounded {
                let chosen = all.filter { ($0.event.occurredAt <= (bounds.asOf ?? .latest)) && ($0.recordedAt <= (bounds.knownAt ?? .latest)) }
                let fresh = try TestLedger()
                try fresh.ledger.append(chosen.map(\.event))
                for s in Semantics.allCases {
                    let expected = try fresh.ledger.kpis(delivery: delivery, semantics: s)
                    let got = try t.ledger.kpis(delivery: delivery, semantics: s, at: bounds)?.kpis
                    if let expected {
                        #expect(got == expected, "\(bounds) \(s)")
                    } else {
                        #expect(got?.toDeliver == 0 && got?.success == 0, "\(bounds) \(s): nothing selected")
                    }
                }
            }
        }
        try check()
        try t.ledger.rebuildProjection()
        try check()
    }
}

extension TimeTravelTests {
    /// A random delivery (``ProjectionLawsTests/randomDelivery(seed:messages:)``) appended in random
    /// batches of 1…`largestBatch` events, the clock moving 1–100 s between them; and the log.
    static func appendedInRandomBatches(seed: UInt64, messages: Int, largestBatch: Int,
                                        using rng: inout ProjectionLawsTests.Rng) throws -> (TestLedger, [RecordedEvent]) {
        let t = try TestLedger()
        var rest = ProjectionLawsTests.randomDelivery(seed: seed, messages: messages)[...]
        while !rest.isEmpty {
            let n = Int.random(in: 1...largestBatch, using: &rng)
            try t.ledger.append(Array(rest.prefix(n)))
            rest = rest.dropFirst(n)
            t.clock.advance(seconds: Int64.random(in: 1...100, using: &rng))
        }
        var all: [RecordedEvent] = []
        try t.ledger.forEachEvent { all.append($0); return true }
        return (t, all)
    }
}
