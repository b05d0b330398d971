import DeliveryLedger
import LedgerTestSupport
import Testing

/// `Ledger.append(group:)`: several requests' batches in one transaction, each as if appended alone,
/// one after the other (the service's group commit).
@Suite struct GroupCommitTests {
    let f = EventFactory()

    @Test func aGroupIsTheSameAsItsBatchesAppendedOneAfterTheOther() throws {
        let a = [f.relay("a@example.com", at: 0), f.relay("b@example.com", at: 0)]
        // Its first event is a's first (a duplicate of the earlier batch of the same group).
        let b = [f.relay("a@example.com", at: 0), f.delivered("a@example.com", at: 1)]
        let c = [f.delivered("b@example.com", at: 2)]
        let t = try TestLedger()
        let results = t.ledger.append(group: [a, b, c]).map { try? $0.get() }
        // Worked out: a takes positions 1–2; b's first is a's position 1 (duplicate), its second 3; c 4.
        #expect(results.map { $0?.positions } == [[1, 2], [1, 3], [4]])
        #expect(results.map { $0?.duplicates } == [[], [0], []])
        #expect(results.map { $0?.lastPosition } == [4, 4, 4])
        #expect(try t.ledger.basis().position == 4)

        let one = try TestLedger()
        let alone = try [a, b, c].map { try one.ledger.append($0) }
        #expect(alone.map(\.positions) == results.map { $0!.positions })
        #expect(alone.map(\.duplicates) == results.map { $0!.duplicates })
        #expect(try one.ledger.kpis(delivery: "d1", semantics: .efs) == t.ledger.kpis(delivery: "d1", semantics: .efs))
    }

    @Test func aFailingBatchFailsAloneAndTheOthersAreAppended() throws {
        let t = try TestLedger()
        try t.ledger.append([f.relay("a@example.com", at: 0, id: "e1")])
        let good1 = [f.relay("b@example.com", at: 0)]
        let conflicting = [f.relay("c@example.com", at: 0), f.delivered("a@example.com", at: 5, id: "e1")]
        var invalid = f.relay("d@example.com", at: 0)
        invalid.recipient = ""
        let good2 = [f.relay("e@example.com", at: 0), f.relay("b@example.com", at: 0)]
        let results = t.ledger.append(group: [good1, conflicting, [invalid], good2])
        #expect(try results[0].get().positions == [2])
        guard case .failure(.conflict(index: 1, eventId: "e1", _, recordedPosition: 1, _)) = results[1] else {
            Issue.record("the conflicting batch: \(results[1])"); return
        }
        guard case .failure(.invalidEvent(index: 0, _, _)) = results[2] else {
            Issue.record("the invalid batch: \(results[2])"); return
        }
        // good2's second event is good1's (a duplicate across batches survives the fallback too).
        #expect(try results[3].get().positions == [3, 2])
        #expect(try results[3].get().duplicates == [1])
        // Nothing of the failed batches: c@ was never recorded.
        #expect(try t.ledger.basis().position == 3)
        #expect(try t.ledger.events(delivery: "d1", recipient: "c@example.com").isEmpty)
    }
}

/// Ids and labels with control characters (terminal escape sequences, NUL) are refused by
/// validation, naming the field and the place (the CLI and the dashboard print them).
@Suite struct ControlCharacterTests {
    @Test func controlCharactersInIdsAreRefused() throws {
        let f = EventFactory(delivery: "\u{1B}]0;title\u{07}")
        #expect(throws: EventValidationError(field: "delivery", "holds a control character (U+001B) at character 1")) {
            try f.relay("a@example.com", at: 0).validate()
        }
        let g = EventFactory()
        #expect(throws: EventValidationError(field: "id", "holds a control character (U+0000) at character 2")) {
            try g.relay("a@example.com", at: 0, id: "x\u{0}y").validate()
        }
        #expect(throws: EventValidationError(field: "id", "holds a control character (U+009B) at character 1")) {
            try g.relay("a@example.com", at: 0, id: "\u{9B}2J").validate()
        }
        // Printable Unicode stays accepted.
        try g.relay("a@example.com", at: 0, id: "évènement-✓").validate()
    }
}
