import DeliveryLedger
import LedgerTestSupport
import Testing

@Suite struct EventLogTests {
    let f = EventFactory()

    @Test func positionsAreGapFreeFromOneAndRecordedAtIsSetAtAppend() throws {
        let t = try TestLedger()
        let first = try t.ledger.append([f.relay("a@example.com", at: 0), f.relay("b@example.com", at: 0)])
        #expect(first.positions == [1, 2])
        t.clock.advance(seconds: 60)
        let second = try t.ledger.append([f.delivered("a@example.com", at: 1)])
        #expect(second.positions == [3])
        #expect(second.lastPosition == 3)
        let events = try t.ledger.events(delivery: "d1", recipient: "a@example.com")
        #expect(events.map(\.position) == [1, 3])
        #expect(events[1].recordedAt == events[0].recordedAt.adding(seconds: 60))
        // A clock that goes backwards never makes transaction time decrease.
        t.clock.advance(seconds: -3600)
        try t.ledger.append([f.delivered("b@example.com", at: 1)])
        let b = try t.ledger.events(delivery: "d1", recipient: "b@example.com")
        #expect(b.last!.recordedAt == events[1].recordedAt)
        #expect(try t.ledger.basis().position == 4)
    }

    @Test func reappendingIsANoOpReportingTheOriginalPosition() throws {
        let t = try TestLedger()
        let batch = [f.relay("a@example.com", at: 0), f.delivered("a@example.com", at: 1), f.relay("b@example.com", at: 0)]
        try t.ledger.append(batch)
        var copy = batch
        copy[1].raw = Array(" {\"reformatted\": true} ".utf8)  // raw bytes differ, content does not
        copy[1].source = .sparkpost
        let again = try t.ledger.append(copy)
        #expect(again.appended == 0)
        #expect(again.duplicates == [0, 1, 2])
        #expect(again.positions == [1, 2, 3])
        #expect(try t.ledger.basis().position == 3)
    }

    @Test func duplicateInsideOneBatch() throws {
        let t = try TestLedger()
        let e = f.relay("a@example.com", at: 0)
        let result = try t.ledger.append([e, f.delivered("a@example.com", at: 1), e])
        #expect(result.positions == [1, 2, 1])
        #expect(result.duplicates == [2])
        #expect(try t.ledger.kpis(delivery: "d1", semantics: .classic)?.toDeliver == 1)
    }

    @Test func sameIdWithOtherContentIsAConflictAndNothingIsAppended() throws {
        let t = try TestLedger()
        try t.ledger.append([f.relay("a@example.com", at: 0, id: "e1")])
        let clash = f.delivered("a@example.com", at: 5, id: "e1")
        #expect {
            try t.ledger.append([f.relay("b@example.com", at: 0), clash])
        } throws: { error in
            guard case let LedgerError.conflict(index, id, _, position, other) = error else { return false }
            return index == 1 && id == "e1" && position == 1 && other == nil
        }
        #expect(try t.ledger.basis().position == 1)
        #expect(try t.ledger.status(delivery: "d1", recipient: "b@example.com") == nil)
    }

    @Test func anInvalidEventRejectsTheWholeBatch() throws {
        let t = try TestLedger()
        var bad = f.relay("a@example.com", at: 0)
        bad.recipient = "not an address"
        #expect {
            try t.ledger.append([f.relay("b@example.com", at: 0), bad])
        } throws: { error in
            guard case let LedgerError.invalidEvent(index, _, v) = error else { return false }
            return index == 1 && v.field == "recipient"
        }
        #expect(try t.ledger.basis().position == 0)
        #expect(try t.ledger.deliveries().isEmpty)
    }

    @Test func reopeningKeepsEverything() throws {
        let dir = TemporaryDirectory()
        var options = LedgerOptions()
        options.durable = false
        do {
            let ledger = try Ledger(path: dir.path("l.lmdb"), options: options)
            try ledger.append([f.declare(toDeliver: 3), f.relay("a@example.com", at: 0), f.hardBounce("a@example.com", at: 1)])
        }
        let ledger = try Ledger(path: dir.path("l.lmdb"), options: options)
        #expect(try ledger.basis().position == 3)
        #expect(try ledger.status(delivery: "d1", recipient: "a@example.com")?.classic.status == .failed)
        #expect(try ledger.kpis(delivery: "d1", semantics: .classic)?.failed == 1)
        let again = try ledger.append([f.relay("a@example.com", at: 0)])
        #expect(again.duplicates == [0])
    }

    @Test func recipientDomainIsLowerCasedLocalPartKept() throws {
        #expect(Address.normalize(" <John.Doe@Example.COM> ") == "John.Doe@example.com")
        #expect(Address.normalize("no-at-sign") == nil)
        #expect(Address.normalize("a b@example.com") == nil)
        // ASCII (byte-level path) and non-ASCII (Unicode path) follow the same rules.
        let cases: [(String, String?)] = [
            ("ann@example.com", "ann@example.com"), ("\t<Ann@EXAMPLE.com>", "Ann@example.com"), ("<<a@b>>", nil),
            ("@example.com", nil), ("ann@", nil), ("<>", nil), ("", nil), ("ann@exa\u{7F}mple.com", nil),
            ("a@b@Example.com", nil), ("ann\n@example.com", nil),
            (String(repeating: "a", count: 310) + "@example.com", nil), (String(repeating: "a", count: 300) + "@example.com", String(repeating: "a", count: 300) + "@example.com"),
            ("José@Exämple.COM", "José@exämple.com"), (" <Zoë@ÉCOLE.fr> ", "Zoë@école.fr"), ("zoë @école.fr", nil), ("zoë@", nil),
        ]
        for (input, expected) in cases { #expect(Address.normalize(input) == expected, "\(input)") }
        let t = try TestLedger()
        try t.ledger.append([f.relay("John.Doe@example.com", at: 0)])
        #expect(try t.ledger.status(delivery: "d1", recipient: "John.Doe@EXAMPLE.com") != nil)
        #expect(try t.ledger.status(delivery: "d1", recipient: "john.doe@example.com") == nil)
        #expect(try t.ledger.deliveries(containing: "John.Doe@Example.com") == ["d1"])
    }

    @Test func aDeliverysMessagesAreListedWithoutScanningTheLog() throws {
        let t = try TestLedger()
        try t.ledger.append([f.relay("b@example.com", at: 0), EventFactory(delivery: "d2").relay("z@example.com", at: 0),
                             f.relay("a@example.com", at: 0), f.declare(toDeliver: 2)])
        #expect(try t.ledger.recipients(delivery: "d1") == ["a@example.com", "b@example.com"])
        #expect(try t.ledger.recipients(delivery: "d2") == ["z@example.com"])
        #expect(try t.ledger.deliveries() == ["d1", "d2"])
    }

    @Test func mapGrowsDuringLargeAppends() throws {
        let t = try TestLedger(initialMapSize: 1 << 20)
        let raw = [UInt8](repeating: UInt8(ascii: "x"), count: 2000)
        for batch in 0..<4 {
            var events: [Event] = []
            for i in 0..<500 {
                var e = f.relay("r\(batch * 500 + i)@example.com", at: 0)
                e.raw = raw
                events.append(e)
            }
            try t.ledger.append(events)
        }
        #expect(try t.ledger.basis().position == 2000)
        #expect(try t.ledger.kpis(delivery: "d1", semantics: .classic)?.success == 2000)
    }
}
