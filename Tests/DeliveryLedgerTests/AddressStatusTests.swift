import DeliveryLedger
import LedgerTestSupport
import Testing

/// Quarantine rules at their boundaries (domain.md §6).
@Suite struct AddressStatusTests {
    static let hour: Int64 = 3600, day: Int64 = 86_400
    let rules = QuarantineRules()

    func soft(_ seconds: Int64, _ reason: FailureReason = .unreachable) -> Event {
        Event(id: "s\(seconds)", kind: .retry, delivery: "d", recipient: "a@example.com", occurredAt: EventFactory.t0.adding(seconds: seconds),
              qualification: Qualification(.soft, reason))
    }

    func fold(_ events: [Event], at seconds: Int64? = nil) -> AddressState {
        var s = AddressState()
        for (i, e) in events.enumerated() { s.apply(e, position: UInt64(i + 1), rules: rules) }
        if let seconds { s.advance(to: EventFactory.t0.adding(seconds: seconds), rules: rules) }
        return s
    }

    @Test func softErrorsCountOnlyTwentyFourHoursApart() {
        #expect(fold([soft(0), soft(23 * Self.hour)]).errorCount == 1)  // 23 h apart: one
        #expect(fold([soft(0), soft(24 * Self.hour)]).errorCount == 2)  // 24 h apart: two
    }

    @Test func quarantineWhenTheCountReachesFive() {
        let four = (0..<4).map { soft(Int64($0) * Self.day) }
        #expect(fold(four).status == .withErrors)
        #expect(fold(four).errorCount == 4)
        let five = (0..<5).map { soft(Int64($0) * Self.day) }
        #expect(fold(five).status == .quarantine)
    }

    @Test func tenDaysWithoutACountedErrorResetToValid() {
        #expect(fold([soft(0)], at: 10 * Self.day - 1).status == .withErrors)
        let reset = fold([soft(0)], at: 10 * Self.day)
        #expect(reset.status == .valid && reset.errorCount == 0)
    }

    @Test func mailboxFullQuarantineIsLiftedAfterThirtyDays() {
        let events = (0..<5).map { soft(Int64($0) * Self.day, .mailboxFull) }
        let quarantinedAt: Int64 = 4 * Self.day
        #expect(fold(events, at: quarantinedAt + 30 * Self.day - 1).status == .quarantine)
        #expect(fold(events, at: quarantinedAt + 30 * Self.day).status == .valid)
        // Any other reason stays in quarantine.
        let other = (0..<5).map { soft(Int64($0) * Self.day, .refused) }
        #expect(fold(other, at: 400 * Self.day).status == .quarantine)
    }

    @Test func hardFailureQuarantinesAtOnceAndComplaintsDenylist() {
        let hard = Event(id: "h", kind: .bounce, delivery: "d", recipient: "a@example.com", occurredAt: EventFactory.t0,
                         qualification: Qualification(.hard, .userUnknown))
        let q = fold([hard])
        #expect(q.status == .quarantine && q.reason == .userUnknown)
        let complaint = Event(id: "c", kind: .complaint, delivery: "d", recipient: "a@example.com", occurredAt: EventFactory.t0)
        #expect(fold([complaint, soft(Self.day)], at: 1000 * Self.day).status == .denylisted)
    }

    @Test func ignoredAndNotDefinedNeverCountAndADeliveryResets() {
        let ignored = Event(id: "i", kind: .bounce, delivery: "d", recipient: "a@example.com", occurredAt: EventFactory.t0,
                            qualification: Qualification(.ignored, .refused))
        let undefined = Event(id: "u", kind: .bounce, delivery: "d", recipient: "a@example.com", occurredAt: EventFactory.t0.adding(seconds: 2 * Self.day),
                              qualification: Qualification(.notDefined, .notDefined))
        #expect(fold([ignored, undefined]).status == .valid)
        let delivered = Event(id: "ok", kind: .delivered, delivery: "d", recipient: "a@example.com", occurredAt: EventFactory.t0.adding(seconds: 3 * Self.day))
        #expect(fold([soft(0), soft(Self.day), delivered]).status == .valid)
    }

    /// Across deliveries, through the ledger: errors in two deliveries add up.
    @Test func acrossDeliveries() throws {
        let t = try TestLedger()
        var events: [Event] = []
        for i in 0..<5 {
            let f = EventFactory(delivery: "d\(i % 2)")
            events.append(f.relay("a@example.com", at: Int64(i) * 1440, id: "r\(i)"))
            events.append(f.softBounce("a@example.com", at: Int64(i) * 1440 + 1, reason: .mailboxFull, id: "s\(i)"))
        }
        try t.ledger.append(events)
        let r = try #require(try t.ledger.addressStatus("a@example.com", asOf: EventFactory.at(5 * 1440)))
        #expect(r.state.status == .quarantine && r.state.errorCount == 5 && r.state.reason == .mailboxFull)
        #expect(try t.ledger.quarantined(asOf: EventFactory.at(5 * 1440)).map(\.address) == ["a@example.com"])
        #expect(try t.ledger.quarantined(asOf: EventFactory.at(3 * 1440)).isEmpty)
    }

    /// The quarantine list over many deliveries (one per message, as a provider without a grouping
    /// field gives), half of it checkpointed and half in the tail: the addresses a hard bounce or a
    /// complaint put there, worked out from the events — x0 … x99 hard-bounced in their own delivery
    /// (Quarantine, User unknown), y0 … y49 complained in a second delivery after a delivery in a first
    /// (Denylisted), z0 … z49 only delivered (Valid, absent) — and each one's report is the one
    /// `addressStatus` gives for it.
    @Test func quarantineOverManyDeliveries() throws {
        let t = try TestLedger()
        var events: [Event] = []
        for i in 0..<100 {
            let f = EventFactory(delivery: "m-x\(i)")
            events += [f.relay("x\(i)@example.com", at: 0, id: "xr\(i)"), f.hardBounce("x\(i)@example.com", at: 1, id: "xb\(i)")]
        }
        for i in 0..<50 {
            let (first, second) = (EventFactory(delivery: "m-y\(i)a"), EventFactory(delivery: "m-y\(i)b"))
            events += [first.relay("y\(i)@example.com", at: 0, id: "yr\(i)"), first.delivered("y\(i)@example.com", at: 1, id: "yd\(i)"),
                       second.relay("y\(i)@example.com", at: 2, id: "yr2\(i)"), second.complaint("y\(i)@example.com", at: 3, id: "yc\(i)")]
            let z = EventFactory(delivery: "m-z\(i)")
            events += [z.relay("z\(i)@example.com", at: 0, id: "zr\(i)"), z.delivered("z\(i)@example.com", at: 1, id: "zd\(i)")]
        }
        try t.ledger.append(Array(events[..<(events.count / 2)]))
        try t.ledger.checkpoint()
        try t.ledger.append(Array(events[(events.count / 2)...]))
        let at = EventFactory.at(10)
        let list = try t.ledger.quarantined(asOf: at)
        let expected = ((0..<100).map { "x\($0)@example.com" } + (0..<50).map { "y\($0)@example.com" }).sorted()
        #expect(list.map(\.address) == expected)
        #expect(list.filter { $0.address.hasPrefix("x") }.allSatisfy { $0.state.status == .quarantine && $0.state.reason == .userUnknown })
        #expect(list.filter { $0.address.hasPrefix("y") }.allSatisfy { $0.state.status == .denylisted })
        for r in list { #expect(try t.ledger.addressStatus(r.address, asOf: at) == r, "\(r.address)") }
    }
}
