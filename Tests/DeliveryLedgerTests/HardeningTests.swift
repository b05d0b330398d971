import DeliveryLedger
import LedgerTestSupport
import Testing

/// Cases found by trying to break the ledger (closing note of "The ledger end to end").
@Suite struct HardeningTests {
    let f = EventFactory()

    /// `é` as one code point (NFC) and as `e` + combining accent (NFD) are different byte strings:
    /// two messages, whatever the batching, and re-appending either one is a no-op.
    @Test func canonicallyEquivalentAddressesAreDistinctByteKeys() throws {
        let nfc = "jos\u{E9}@example.com", nfd = "jose\u{301}@example.com"
        #expect(nfc == nfd)  // Swift's String equality is canonical equivalence...
        let together = try TestLedger()
        try together.ledger.append([f.relay(nfc, at: 0, id: "a"), f.hardBounce(nfd, at: 1, id: "b")])
        let apart = try TestLedger()
        try apart.ledger.append([f.relay(nfc, at: 0, id: "a")])
        try apart.ledger.append([f.hardBounce(nfd, at: 1, id: "b")])
        for t in [together, apart] {
            let k = try #require(try t.ledger.kpis(delivery: "d1", semantics: .classic))
            #expect(k.toDeliver == 2)  // ...but the ledger compares bytes
            #expect(k.failed == 1 && k.success == 1)
            #expect(try t.ledger.append([f.hardBounce(nfd, at: 1, id: "b")]).appended == 0)
        }
    }

    @Test func temporaryFailuresAreNeverHard() throws {
        let t = try TestLedger()
        var nonFinal = f.hardBounce("a@example.com", at: 1)
        nonFinal.final = false
        var timeout = f.timeout("b@example.com", at: 1)
        timeout.qualification = Qualification(.hard, .userUnknown)
        for e in [nonFinal, timeout] {
            #expect {
                try t.ledger.append([e])
            } throws: { error in
                guard case let LedgerError.invalidEvent(_, _, v) = error else { return false }
                return v.field == "failureType"
            }
        }
    }

    @Test func fieldsMustFitTheKind() throws {
        let t = try TestLedger()
        var relay = f.relay("a@example.com", at: 0)
        relay.qualification = Qualification(.soft, .refused)
        var delivered = f.delivered("a@example.com", at: 1)
        delivered.beforeRelay = true
        var nonFinalDelivered = f.delivered("a@example.com", at: 1)
        nonFinalDelivered.final = false
        var nonFinalBeforeRelay = f.policyRejection("a@example.com", at: 1)
        nonFinalBeforeRelay.final = false
        for (e, field) in [(relay, "failureType"), (delivered, "beforeRelay"), (nonFinalDelivered, "final"), (nonFinalBeforeRelay, "beforeRelay")] {
            #expect {
                try t.ledger.append([e])
            } throws: { error in
                guard case let LedgerError.invalidEvent(_, _, v) = error else { return false }
                return v.field == field
            }
        }
        #expect(try t.ledger.basis().position == 0)
    }

    /// More messages than declared: to deliver is the number seen, so Success % stays ≤ 100 %.
    @Test func successRateStaysWithinZeroAndOne() throws {
        let t = try TestLedger()
        try t.ledger.append([f.declare(toDeliver: 1)] + (0..<3).map { f.relay("r\($0)@example.com", at: 1) })
        let k = try #require(try t.ledger.kpis(delivery: "d1", semantics: .classic))
        #expect(k.toDeliver == 3 && k.successRate == 1.0 && k.pending == 0)
    }

    @Test func aConflictInsideOneBatchNamesTheOtherEvent() throws {
        let t = try TestLedger()
        #expect {
            try t.ledger.append([f.relay("a@example.com", at: 0, id: "x"), f.delivered("a@example.com", at: 1, id: "x")])
        } throws: { error in
            guard case let LedgerError.conflict(index, _, _, position, other) = error else { return false }
            return index == 1 && position == nil && other == 0
        }
    }

    /// A stream with many events: a batch walks its chain once, not once per event.
    @Test func longStreamsStayLinearWithinABatch() throws {
        let t = try TestLedger()
        let events = (0..<5000).map { f.softBounce("busy@example.com", at: Int64($0), id: "r\($0)") }
        try t.ledger.append(events)
        let again = try t.ledger.append(events)
        #expect(again.appended == 0 && again.duplicates.count == 5000)
    }

    @Test func readOnlyOpenOfAMissingLedgerIsAnError() throws {
        let dir = TemporaryDirectory()
        var options = LedgerOptions()
        options.createIfMissing = false
        #expect(throws: LedgerError.self) { try Ledger(path: dir.path("typo.lmdb"), options: options) }
    }
}
