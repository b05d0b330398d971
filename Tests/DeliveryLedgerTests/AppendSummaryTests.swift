@testable import DeliveryLedger
import LMDBKit
import LedgerTestSupport
import Testing

/// The appends' summaries (``AppendSummary``): the KPIs and statuses a reader answers from them,
/// without folding the tail, equal the answers of the projection with its tail folded, at every
/// point of random append and checkpoint sequences; a tail they do not cover is folded instead,
/// and a head they name for another stream is never taken for the asked one.
@Suite struct AppendSummaryTests {
    typealias Rng = ProjectionLawsTests.Rng

    /// Checkpoints only when a test takes one: the tail stays as the test built it.
    static let manualCheckpoints: LedgerOptions = {
        var options = LedgerOptions()
        options.checkpointRecords = .max
        options.checkpointSeconds = .infinity
        return options
    }()

    /// A text-qualified failure (its qualification is recomputed from the text by every fold).
    static func textBounce(_ f: EventFactory, _ r: String, at minutes: Int64, id: String) -> Event {
        Event(id: id, kind: .bounce, delivery: f.delivery, recipient: r, occurredAt: EventFactory.at(minutes), final: true,
              smtpCode: 550, response: "550 5.1.1 <\(r)>: Recipient address rejected: User unknown in virtual mailbox table",
              qualification: Qualification(.hard, .userUnknown), qualifier: "rules#user-unknown-text", source: .dsn)
    }

    /// Every delivery's KPIs and every recipient's status (with events), from the summaries and
    /// from the fold, must be the same; the summaries must answer (not fall back).
    static func expectSummariesAnswerAsTheFold(_ ledger: Ledger, deliveries: [String], recipients: [String]) throws {
        for d in deliveries {
            for s in Semantics.allCases {
                let summary = try ledger.summaryKPIs(delivery: d, semantics: s)
                #expect(summary != nil, "the summaries did not answer the KPIs of \(d)")
                #expect(summary ?? nil == (try ledger.foldedKPIs(delivery: d, semantics: s)), "KPIs of \(d) under \(s)")
            }
            for r in recipients {
                let summary = try ledger.summaryStatus(delivery: d, address: r, includeEvents: true)
                #expect(summary != nil, "the summaries did not answer the status of \(r) in \(d)")
                #expect(summary ?? nil == (try ledger.foldedStatus(delivery: d, address: r, includeEvents: true)), "status of \(r) in \(d)")
            }
        }
    }

    /// Random batches of two deliveries (re-sent events, declarations that change the recipient
    /// count, text-qualified failures), random checkpoints, and a re-projection half-way: after
    /// every append, the summaries answer as the fold does — for every recipient, also those with
    /// no event (nil both ways) and those of the other delivery.
    @Test(arguments: [31, 32, 33] as [UInt64])
    func summariesAnswerAsTheFoldAtEveryPoint(seed: UInt64) throws {
        var rng = Rng(state: seed)
        let f = EventFactory(delivery: "p\(seed)")
        var events = ProjectionLawsTests.randomDelivery(seed: seed, messages: 40)
            + ProjectionLawsTests.randomDelivery(seed: seed + 100, messages: 15)
        for m in 0..<8 { events.append(Self.textBounce(f, "m\(m)@example.com", at: Int64(500 + m), id: "text-\(m)")) }
        events.append(f.declare(toDeliver: 99, at: 900, id: "redeclare"))
        events.shuffle(using: &rng)
        let t = try TestLedger(options: Self.manualCheckpoints)
        let deliveries = ["p\(seed)", "p\(seed + 100)", "unknown"]
        let recipients = (0..<42).map { "m\($0)@example.com" }
        var rest = events[...]
        var appended: [Event] = []
        var step = 0
        while !rest.isEmpty {
            var batch = Array(rest.prefix(Int.random(in: 1...25, using: &rng)))
            rest = rest.dropFirst(batch.count)
            if let again = appended.randomElement(using: &rng) { batch.append(again) }  // a duplicate: a no-op
            appended += batch
            t.clock.advance(seconds: 1)
            try t.ledger.append(batch)
            switch Int.random(in: 0..<6, using: &rng) {
            case 0: try t.ledger.checkpoint()
            case 1 where step == 10: try t.ledger.rebuildProjection()
            default: break
            }
            step += 1
            try Self.expectSummariesAnswerAsTheFold(t.ledger, deliveries: deliveries, recipients: recipients)
        }
        #expect(try t.ledger.verify().isHealthy)
    }

    /// A checkpoint removes the `tailStreams` entries it covers; a re-projection clears both tables.
    @Test func checkpointsAndReprojectionsRemoveWhatTheyCover() throws {
        let t = try TestLedger()
        let f = EventFactory()
        try t.ledger.append([f.declare(toDeliver: 2), f.relay("a@example.com", at: 0)])
        try t.ledger.append([f.relay("b@example.com", at: 0)])
        func counts() throws -> (current: Int, tail: Int) {
            try t.ledger.environment.read { txn in (try txn.count(t.ledger.tables.currentCounters!), try txn.count(t.ledger.tables.tailStreams!)) }
        }
        #expect(try counts() == (1, 2))
        try t.ledger.checkpoint()
        #expect(try counts() == (1, 0))
        try t.ledger.append([f.delivered("a@example.com", at: 1)])
        #expect(try counts() == (1, 1))
        #expect(try t.ledger.summaryKPIs(delivery: "d1", semantics: .classic)??.toDeliver == 2)
        try t.ledger.rebuildProjection()
        #expect(try counts() == (0, 0))
        // Answered from the persisted projection alone (the checkpoint covers the whole log).
        let k = try #require(try t.ledger.summaryKPIs(delivery: "d1", semantics: .efs) ?? nil)
        #expect(k.success == 1 && k.toDeliver == 2)
        #expect(try t.ledger.summaryStatus(delivery: "d1", address: "b@example.com", includeEvents: false)??.classic.status == .sent)
    }

    /// A tail with an append that left no summary (as an older build's would) is not covered: the
    /// status is then answered by the fold, and is still right.
    @Test func aTailTheSummariesDoNotCoverIsFolded() throws {
        let t = try TestLedger(options: Self.manualCheckpoints)
        let f = EventFactory()
        try t.ledger.append([f.relay("a@example.com", at: 0)])
        try t.ledger.append([f.hardBounce("a@example.com", at: 1)])
        try t.ledger.environment.write { txn in _ = try txn.delete(t.ledger.tables.tailStreams!, key: Key.u64(1)) }
        #expect(try t.ledger.summaryStatus(delivery: "d1", address: "a@example.com", includeEvents: false) == nil)
        #expect(try t.ledger.status(delivery: "d1", recipient: "a@example.com")?.classic.status == .failed)
    }

    /// A head planted in the newest entry under the asked stream's hash, but of another stream, is
    /// not taken for it (the hash only names candidates).
    @Test func aHeadOfAnotherStreamUnderTheSameHashIsNotTaken() throws {
        let t = try TestLedger(options: Self.manualCheckpoints)
        let f = EventFactory()
        try t.ledger.append([f.relay("a@example.com", at: 0), f.relay("b@example.com", at: 0)])  // 1, 2
        try t.ledger.checkpoint()
        try t.ledger.append([f.hardBounce("b@example.com", at: 1), f.relay("c@example.com", at: 1)])  // 3, 4
        try t.ledger.append([f.delivered("c@example.com", at: 2)])  // 5
        let d = try #require(try t.ledger.environment.read { txn in try txn.withValue(t.ledger.tables.currentCounters!, key: Array("d1".utf8)) { try AppendSummary.DeliveryEntry(bytes: $0) } })
        // The newest entry (append 5) also names a's hash with b's head (3, a persisted stream's
        // record) and c's head (5, a stream new since the checkpoint).
        let planted = AppendSummary.streamsValue(first: 5, deliveries: [d.ordinal], [
            (AppendSummary.streamHash(delivery: d.ordinal, recipient: "c@example.com"), 5),
            (AppendSummary.streamHash(delivery: d.ordinal, recipient: "a@example.com"), 3),
            (AppendSummary.streamHash(delivery: d.ordinal, recipient: "a@example.com"), 5),
            (AppendSummary.streamHash(delivery: d.ordinal, recipient: "z@example.com"), 3),
        ])
        try t.ledger.environment.write { txn in try txn.put(t.ledger.tables.tailStreams!, key: Key.u64(5), value: planted) }
        let a = try #require(try t.ledger.summaryStatus(delivery: "d1", address: "a@example.com", includeEvents: true) ?? nil)
        #expect(a.classic.status == .sent && a.events.map(\.position) == [1])
        // z has no message: the planted head of b is not taken for one.
        #expect(try t.ledger.summaryStatus(delivery: "d1", address: "z@example.com", includeEvents: false) == .some(nil))
        let b = try #require(try t.ledger.summaryStatus(delivery: "d1", address: "b@example.com", includeEvents: true) ?? nil)
        #expect(b.classic.status == .failed && b.events.map(\.position) == [2, 3])
        // verify compares each entry with its append's records.
        let problems = try t.ledger.verify().problems
        #expect(problems.map(\.what) == ["the tail streams entry of the append 5…5 differs from its records (the streams' heads, or the deliveries it touched)"])
    }

    /// A `currentCounters` entry lost (damage) for deliveries appends after the checkpoint touched:
    /// KPIs, the delivery list and statuses are answered by folding, and are right; verify names it.
    @Test func aLostCurrentCountersEntryIsFoldedAndNamed() throws {
        let t = try TestLedger(options: Self.manualCheckpoints)
        let f = EventFactory()
        let g = EventFactory(delivery: "d2")
        try t.ledger.append([f.declare(toDeliver: 2), f.relay("a@example.com", at: 0)])  // 1, 2
        try t.ledger.checkpoint()
        try t.ledger.append([f.delivered("a@example.com", at: 1)])  // 3
        try t.ledger.append([g.relay("x@example.com", at: 1)])  // 4: a delivery new since the checkpoint
        try t.ledger.environment.write { txn in
            for d in ["d1", "d2"] { _ = try txn.delete(t.ledger.tables.currentCounters!, key: Array(d.utf8)) }
        }
        #expect(try t.ledger.summaryKPIs(delivery: "d1", semantics: .efs) == nil)
        #expect(try t.ledger.summaryKPIs(delivery: "d2", semantics: .efs) == nil)
        #expect(try t.ledger.kpis(delivery: "d1", semantics: .efs)?.success == 1)
        #expect(try t.ledger.kpis(delivery: "d2", semantics: .classic)?.success == 1)
        #expect(try t.ledger.summaryDeliveries() == nil)
        #expect(try t.ledger.deliveries() == ["d1", "d2"])
        #expect(try t.ledger.summaryStatus(delivery: "d2", address: "x@example.com", includeEvents: false) == nil)
        #expect(try t.ledger.status(delivery: "d2", recipient: "x@example.com")?.classic.status == .sent)
        #expect(try t.ledger.deliveries(containing: "x@example.com") == ["d2"])
        let problems = try t.ledger.verify().problems.map(\.what)
        #expect(problems.contains("delivery 'd1' was touched by the append ending at 3 but has no current counters"), "\(problems)")
        #expect(problems.contains("delivery 'd2' was touched by the append ending at 4 but has no current counters"), "\(problems)")
    }

    /// Summary entries that do not decode (damage) are answered around, by folding: KPIs, the
    /// delivery list and statuses stay right, and verify names each entry.
    @Test func undecodableSummariesAreFoldedAround() throws {
        let t = try TestLedger(options: Self.manualCheckpoints)
        let f = EventFactory()
        try t.ledger.append([f.declare(toDeliver: 2), f.relay("a@example.com", at: 0)])  // 1, 2
        try t.ledger.checkpoint()
        try t.ledger.append([f.delivered("a@example.com", at: 1), f.relay("b@example.com", at: 1)])  // 3, 4
        try t.ledger.environment.write { txn in
            try txn.put(t.ledger.tables.currentCounters!, key: Array("d1".utf8), value: [0, 0, 0])
            try txn.put(t.ledger.tables.tailStreams!, key: Key.u64(4), value: [0, 0, 0, 0, 0, 0, 0, 3, 0])
        }
        #expect(try t.ledger.summaryKPIs(delivery: "d1", semantics: .efs) == nil)
        let k = try #require(try t.ledger.kpis(delivery: "d1", semantics: .efs))
        #expect(k.success == 1 && k.toDeliver == 2)
        #expect(try t.ledger.deliveries() == ["d1"])
        #expect(try t.ledger.status(delivery: "d1", recipient: "b@example.com")?.classic.status == .sent)
        let problems = try t.ledger.verify().problems.map(\.what)
        #expect(problems.contains { $0.hasPrefix("the current counters of delivery 'd1' do not decode") }, "\(problems)")
        #expect(problems.contains("the tail streams entry of the append ending at 4 does not decode"), "\(problems)")
        // The next append touching the delivery writes its entry anew.
        try t.ledger.append([f.delivered("b@example.com", at: 2)])
        #expect(try t.ledger.summaryKPIs(delivery: "d1", semantics: .efs)??.success == 2)
        #expect(try t.ledger.summaryKPIs(delivery: "d1", semantics: .efs)??.toDeliver == 2)
    }

    /// Persisted KPI counters that do not decode are a problem `verify` lists (in the projection:
    /// `reproject` rebuilds them), not an error that stops it.
    @Test func verifyListsPersistedCountersThatDoNotDecode() throws {
        let t = try TestLedger()
        let f = EventFactory()
        try t.ledger.append([f.declare(toDeliver: 2), f.relay("a@example.com", at: 0)])
        try t.ledger.checkpoint()
        let d = try #require(try t.ledger.environment.read { txn in try txn.withValue(t.ledger.tables.currentCounters!, key: Array("d1".utf8)) { try AppendSummary.DeliveryEntry(bytes: $0) } }).ordinal
        try t.ledger.environment.write { txn in try txn.put(t.ledger.tables.deliveryCounters, key: Key.u32(d), value: [0xff]) }
        let problems = try t.ledger.verify().problems
        #expect(problems.contains { $0.inProjection && $0.what.hasPrefix("the persisted KPI counters of delivery ordinal \(d) do not decode") }, "\(problems)")
        try t.ledger.rebuildProjection()
        #expect(try t.ledger.verify().isHealthy)
    }

    /// Counters out of range in a `currentCounters` entry (damage) never make an arithmetic trap:
    /// the entry does not decode (verify names it) and the fold answers; a declared count beyond any
    /// ledger is taken as 2^48.
    @Test func countersOutOfRangeAreNamedNotATrap() throws {
        let t = try TestLedger()
        let f = EventFactory()
        try t.ledger.append([f.declare(toDeliver: 2), f.relay("a@example.com", at: 0)])
        let key = Array("d1".utf8)
        var entry = try #require(try t.ledger.environment.read { txn in try txn.withValue(t.ledger.tables.currentCounters!, key: key) { try AppendSummary.DeliveryEntry(bytes: $0) } })
        var huge = entry
        huge.counters.values[2] = Int64.max
        try t.ledger.environment.write { txn in try txn.put(t.ledger.tables.currentCounters!, key: key, value: huge.bytes) }
        #expect(try t.ledger.summaryKPIs(delivery: "d1", semantics: .classic) == nil)  // not decodable: the fold answers
        #expect(try t.ledger.kpis(delivery: "d1", semantics: .classic)?.success == 1)
        #expect(try t.ledger.verify().problems.contains { $0.what.contains("counter 2 is \(Int64.max), out of range") })
        entry.toDeliver = Int64.max
        try t.ledger.environment.write { txn in try txn.put(t.ledger.tables.currentCounters!, key: key, value: entry.bytes) }
        let k = try #require(try t.ledger.kpis(delivery: "d1", semantics: .classic))
        #expect(k.toDeliver == 1 << 48 && k.pending == (1 << 48) - 1)
    }

    /// `verify` checks the summaries: a delivery's current counters that differ from the fold, or
    /// name another declared count, and a tail entry kept past its checkpoint, are named.
    @Test func verifyNamesSummariesThatDifferFromTheFold() throws {
        let t = try TestLedger()
        let f = EventFactory()
        try t.ledger.append([f.declare(toDeliver: 3), f.relay("a@example.com", at: 0), f.relay("b@example.com", at: 0)])
        try t.ledger.append([f.delivered("a@example.com", at: 1)])
        #expect(try t.ledger.verify().isHealthy)
        let key = Array("d1".utf8)
        let stored = try #require(try t.ledger.environment.read { txn in try txn.withValue(t.ledger.tables.currentCounters!, key: key) { try AppendSummary.DeliveryEntry(bytes: $0) } })
        var wrong = stored
        wrong.counters.values[4] += 1  // delivered
        try t.ledger.environment.write { txn in try txn.put(t.ledger.tables.currentCounters!, key: key, value: wrong.bytes) }
        #expect(try t.ledger.verify().problems.map(\.what).contains("the current counters of delivery 'd1' differ from a fold of the log"))
        wrong = stored
        wrong.toDeliver = 4
        try t.ledger.environment.write { txn in try txn.put(t.ledger.tables.currentCounters!, key: key, value: wrong.bytes) }
        #expect(try t.ledger.verify().problems.map(\.what).contains("the current counters of delivery 'd1' give another declared recipient count than its declarations"))
        try t.ledger.environment.write { txn in try txn.put(t.ledger.tables.currentCounters!, key: key, value: stored.bytes) }
        #expect(try t.ledger.verify().isHealthy)
        try t.ledger.checkpoint()
        try t.ledger.environment.write { txn in try txn.put(t.ledger.tables.tailStreams!, key: Key.u64(4), value: AppendSummary.streamsValue(first: 4, deliveries: [], [])) }
        #expect(try t.ledger.verify().problems.map(\.what).contains("a tail streams entry is kept for append 4, outside the tail 5…4"))
    }

    /// A ledger of format 5 (no summary tables) opened read-only answers by folding, and a writer
    /// opening it adds the tables and marks it 6; its tail of records without summaries is folded
    /// until the next checkpoint covers it.
    @Test func aLedgerOfTheFormatBeforeIsReadAndUpgraded() throws {
        let dir = TemporaryDirectory()
        var options = Self.manualCheckpoints
        options.durable = false
        let f = EventFactory()
        do {
            let ledger = try Ledger(path: dir.path("l.lmdb"), options: options)
            try ledger.append([f.declare(toDeliver: 2), f.relay("a@example.com", at: 0), f.relay("b@example.com", at: 0)])
            try ledger.checkpoint()
            try ledger.append([f.hardBounce("b@example.com", at: 1)])
        }
        do {
            let env = try Environment(path: dir.path("l.lmdb"))
            try env.write { txn in
                for name in Tables.addedNames { try txn.drop(try txn.openDatabase(named: name, flags: [])) }
                try txn.put(try txn.openDatabase(named: "meta", flags: []), key: Tables.formatVersionKey, value: Key.u64(5))
            }
        }
        var readOnly = options
        readOnly.readOnly = true
        do {
            let ledger = try Ledger(path: dir.path("l.lmdb"), options: readOnly)
            #expect(ledger.tables.currentCounters == nil && ledger.tables.tailStreams == nil)
            #expect(try ledger.summaryKPIs(delivery: "d1", semantics: .efs) == nil)
            #expect(try ledger.kpis(delivery: "d1", semantics: .efs)?.failed == 1)
            #expect(try ledger.status(delivery: "d1", recipient: "b@example.com")?.classic.status == .failed)
            #expect(try ledger.verify().isHealthy)
        }
        let ledger = try Ledger(path: dir.path("l.lmdb"), options: options)
        #expect(try ledger.environment.read { txn in try txn.get(ledger.tables.meta, key: Tables.formatVersionKey) } == Key.u64(6))
        try ledger.append([f.delivered("a@example.com", at: 2)])
        // The tail holds the append of format 5 (position 4), which left no summary.
        #expect(try ledger.summaryStatus(delivery: "d1", address: "a@example.com", includeEvents: false) == nil)
        #expect(try ledger.summaryKPIs(delivery: "d1", semantics: .efs)??.success == 1)
        try ledger.checkpoint()
        try ledger.append([f.relay("c@example.com", at: 3)])
        let c = try #require(try ledger.summaryStatus(delivery: "d1", address: "c@example.com", includeEvents: false) ?? nil)
        #expect(c.classic.status == .sent)
        #expect(try ledger.verify().isHealthy)
    }

    /// `heads(hash:)` finds every head stored under a hash (a collision keeps them all), by binary
    /// search over the sorted pairs.
    @Test func headsOfAHashAreFoundBySearch() throws {
        let pairs: [(hash: UInt64, head: UInt64)] = [(9, 1), (3, 7), (9, 4), (1, 2), (UInt64.max, 8), (5, 6)]
        let value = AppendSummary.streamsValue(first: 11, deliveries: [3, 1, 3], pairs)
        try value.withUnsafeBytes { b in
            let streams = try AppendSummary.Streams(b)
            #expect(streams.first == 11 && streams.count == 6 && streams.deliveries == [1, 3])
            #expect(streams.heads(hash: 9) == [1, 4])
            #expect(streams.heads(hash: 3) == [7])
            #expect(streams.heads(hash: UInt64.max) == [8])
            #expect(streams.heads(hash: 0).isEmpty && streams.heads(hash: 4).isEmpty && streams.heads(hash: 10).isEmpty)
        }
        #expect(throws: CorruptRecordError.self) { try [UInt8](repeating: 0, count: 11).withUnsafeBytes { _ = try AppendSummary.Streams($0) } }
        #expect(throws: CorruptRecordError.self) { try (value + [0]).withUnsafeBytes { _ = try AppendSummary.Streams($0) } }
        var many = value
        many[11] = 200  // 200 deliveries announced, fewer bytes
        #expect(throws: CorruptRecordError.self) { try many.withUnsafeBytes { _ = try AppendSummary.Streams($0) } }
    }
}
