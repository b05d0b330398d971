import DeliveryLedger
import LedgerTestSupport
import Testing

/// Property tests for the projection laws (domain.md §3, issue "The ledger end to end"):
/// arrival order and duplicates never change a projection; the persisted, incremental projection
/// equals a fold from scratch; a rebuild equals the incremental projection.
@Suite struct ProjectionLawsTests {
    /// A seeded generator (SplitMix64) so failures reproduce.
    struct Rng: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// A random delivery: each message gets a random mix of events at distinct instants.
    static func randomDelivery(seed: UInt64, messages: Int = 60) -> [Event] {
        var rng = Rng(state: seed)
        let f = EventFactory(delivery: "p\(seed)")
        var events: [Event] = [f.declare(toDeliver: Int64(messages + 5))]
        var minute: Int64 = 0
        for m in 0..<messages {
            let r = "m\(m)@example.com"
            let count = Int.random(in: 0...6, using: &rng)
            for k in 0..<count {
                minute += Int64.random(in: 1...30, using: &rng)
                let id = "e\(m)-\(k)"
                switch Int.random(in: 0..<9, using: &rng) {
                case 0, 1: events.append(f.relay(r, at: minute, id: id))
                case 2: events.append(f.delivered(r, at: minute, id: id))
                case 3: events.append(f.hardBounce(r, at: minute, inBand: Bool.random(using: &rng), id: id))
                case 4: events.append(f.softBounce(r, at: minute, reason: [.mailboxFull, .unreachable, .refused].randomElement(using: &rng)!, id: id))
                case 5: events.append(f.finalSoftBounce(r, at: minute, id: id))
                case 6: events.append(f.timeout(r, at: minute, id: id))
                case 7: events.append(f.policyRejection(r, at: minute, id: id))
                default: events.append(f.autoReply(r, at: minute, id: id))
                }
            }
        }
        return events
    }

    struct Snapshot: Equatable {
        var kpis: [DeliveryKPIs]
        var statuses: [String: [MessageStatus]]
        var reasons: [String: [FailureReason?]]
    }

    static func snapshot(_ ledger: Ledger, delivery: String) throws -> Snapshot {
        var statuses: [String: [MessageStatus]] = [:]
        var reasons: [String: [FailureReason?]] = [:]
        for r in try ledger.recipients(delivery: delivery) {
            let report = try #require(try ledger.status(delivery: delivery, recipient: r))
            statuses[r] = [report.classic.status, report.efs.status]
            reasons[r] = [report.classic.failureReason, report.efs.failureReason]
        }
        let kpis = try Semantics.allCases.map { try #require(try ledger.kpis(delivery: delivery, semantics: $0)) }
        return Snapshot(kpis: kpis, statuses: statuses, reasons: reasons)
    }

    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64])
    func shufflingAndRepeatingEventsGivesTheSameProjection(seed: UInt64) throws {
        let events = Self.randomDelivery(seed: seed)
        let reference = try TestLedger()
        try reference.ledger.append(events)
        let expected = try Self.snapshot(reference.ledger, delivery: "p\(seed)")

        var rng = Rng(state: seed &* 7919)
        var shuffled = events.shuffled(using: &rng)
        let repeats = (0..<events.count / 5).map { _ in events.randomElement(using: &rng)! }
        shuffled.append(contentsOf: repeats)
        shuffled.shuffle(using: &rng)
        let other = try TestLedger()
        // In random batch sizes, so that duplicates fall in the same and in later batches.
        var rest = shuffled[...]
        while !rest.isEmpty {
            let n = Int.random(in: 1...40, using: &rng)
            try other.ledger.append(Array(rest.prefix(n)))
            rest = rest.dropFirst(n)
        }
        #expect(try other.ledger.basis().position == UInt64(events.count))
        #expect(try Self.snapshot(other.ledger, delivery: "p\(seed)") == expected)
    }

    @Test(arguments: [11, 12, 13] as [UInt64])
    func incrementalProjectionEqualsAFoldFromScratch(seed: UInt64) throws {
        let t = try TestLedger()
        var rng = Rng(state: seed)
        var rest = Self.randomDelivery(seed: seed)[...]
        while !rest.isEmpty {
            let n = Int.random(in: 1...25, using: &rng)
            try t.ledger.append(Array(rest.prefix(n)))
            rest = rest.dropFirst(n)
        }
        // From scratch: group the whole log by message and fold each group.
        var byMessage: [String: [RecordedEvent]] = [:]
        try t.ledger.forEachEvent { r in
            if r.event.kind.isMessageEvent { byMessage[r.event.recipient, default: []].append(r) }
            return true
        }
        var success: [Semantics: Int64] = [.classic: 0, .efs: 0]
        var failed: Int64 = 0
        for (recipient, events) in byMessage {
            let state = MessageState.fold(events.shuffled(using: &rng))
            let report = try #require(try t.ledger.status(delivery: "p\(seed)", recipient: recipient))
            let light = try #require(try t.ledger.status(delivery: "p\(seed)", recipient: recipient, includeEvents: false))
            #expect(light.classic == report.classic && light.efs == report.efs && light.events.isEmpty && !report.events.isEmpty)
            for s in Semantics.allCases {
                #expect(state.view(s) == report.view(s), "\(recipient) \(s)")
                if state.view(s).status == .sent { success[s]! += 1 }
            }
            if state.view(.classic).status == .failed { failed += 1 }
        }
        for s in Semantics.allCases {
            let k = try #require(try t.ledger.kpis(delivery: "p\(seed)", semantics: s))
            #expect(k.success == success[s])
            #expect(k.failed == failed)
        }
        // A rebuild from the log gives the same persisted projection.
        let before = try Self.snapshot(t.ledger, delivery: "p\(seed)")
        let generation = try t.ledger.projectionInfo().generation
        let rebuilt = try t.ledger.rebuildProjection()
        #expect(try Self.snapshot(t.ledger, delivery: "p\(seed)") == before)
        // Into a new generation, folding the whole log, up to its last position.
        let last = try t.ledger.basis().position
        #expect(rebuilt.generation == generation + 1 && rebuilt.eventsFolded == last && rebuilt.checkpoint == last)
        #expect(try t.ledger.projectionInfo().generation == generation + 1)
        #expect(try t.ledger.verify().isHealthy)
    }
}
