import DeliveryLedger
import Foundation
import LedgerCLI
import Testing

/// `ledger ingest` of an input larger than one atomic batch (20,000 events): checked whole, kept in a
/// temporary file (EventSpill), appended from it in batches — README "Input": the atomic unit.
@Suite(.serialized) struct LargeInputCLITests {
    /// 14,000 recipients relayed, the even ones (7,000) then delivered: 21,000 lines, one batch
    /// of 20,000 and one of 1,000.
    static let recipients = 14_000

    static func lines() -> [String] {
        var lines: [String] = []
        lines.reserveCapacity(recipients * 3 / 2 + 2)
        for i in 0..<recipients {
            lines.append(#"{"id":"r\#(i)","kind":"relay","delivery":"big","recipient":"u\#(i)@example.com","occurredAt":"2026-11-02T09:00:00Z"}"#)
        }
        for i in stride(from: 0, to: recipients, by: 2) {
            lines.append(#"{"id":"d\#(i)","kind":"delivered","delivery":"big","recipient":"u\#(i)@example.com","occurredAt":"2026-11-02T09:05:00Z"}"#)
        }
        return lines
    }

    @Test func aLargeInputIsAppendedWholeWithItsDuplicates() throws {
        let cli = CLI()
        // The first relay again, the same content: a duplicate.
        let r = cli.ingest(Self.lines() + [Self.lines()[0]])
        #expect(r.exitCode == 0, "\(r.error)")
        #expect(r.output.contains("Appended 21000 events (positions 1–21000), 1 duplicate, 0 skipped."), "\(r.output)")
        let classic = try cli.kpis("big", "classic")
        #expect(classic["toDeliver"] as? Int == 14_000)
        #expect(classic["relayed"] as? Int == 14_000)
        #expect(classic["delivered"] as? Int == 7_000)
        #expect(classic["success"] as? Int == 14_000)   // classic: Sent once relayed
        #expect(classic["pending"] as? Int == 0)
        let efs = try cli.kpis("big", "efs")
        #expect(efs["success"] as? Int == 7_000)       // EFS: Sent once delivered
        #expect(efs["takenIntoAccount"] as? Int == 7_000)
        #expect(cli.run("verify").exitCode == 0)
    }

    @Test func aBadRecordAtTheEndOfALargeInputAppendsNothing() throws {
        let cli = CLI()
        let bad = #"{"id":"x","kind":"relay","delivery":"big","recipient":"late@example.com","occurredAt":"not a time"}"#
        let r = cli.ingest(Self.lines() + [bad])
        #expect(r.exitCode != 0)
        #expect(r.error.contains("line 21001"), "\(r.error)")
        #expect(r.error.contains("Nothing was appended"), "\(r.error)")
        #expect(try cli.basisPosition() == 0)
    }

    @Test func aConflictInTheSecondBatchNamesItsLineAndTheEarlierBatches() throws {
        let cli = CLI()
        // The ledger already holds the last delivered event's id with another time.
        let last = recipientsLast
        let earlier = cli.ingest([#"{"id":"d\#(last)","kind":"delivered","delivery":"big","recipient":"u\#(last)@example.com","occurredAt":"2026-11-02T10:00:00Z"}"#],
                                 file: "earlier.jsonl")
        #expect(earlier.exitCode == 0, "\(earlier.error)")
        let r = cli.ingest(Self.lines())
        #expect(r.exitCode != 0)
        // The last line (21,000) is in the second batch; the first batch's 20,000 events are in.
        #expect(r.error.contains("line 21000"), "\(r.error)")
        #expect(r.error.contains("already holds an event with this id at position 1"), "\(r.error)")
        #expect(r.error.contains("The 20000 events of the earlier batches were appended"), "\(r.error)")
        #expect(try cli.basisPosition() == 20_001)
    }

    var recipientsLast: Int { Self.recipients - 2 }
}
