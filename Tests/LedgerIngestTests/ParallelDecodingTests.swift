import DeliveryLedger
import Foundation
@testable import LedgerIngest
import Testing

/// Records are decoded on every core; results, errors and rejects still come in input order.
@Suite struct ParallelDecodingTests {
    static func lines(_ n: Int, badAt bad: Set<Int>) -> [UInt8] {
        var text = ""
        for i in 1...n {
            if bad.contains(i) {
                text += #"{"id":"x\#(i)","kind":"relay","delivery":"d","recipient":"not-an-address","occurredAt":"2026-11-02T09:00:00Z"}"# + "\n"
            } else {
                text += #"{"id":"e\#(i)","kind":"relay","delivery":"d","recipient":"r\#(i)@example.com","occurredAt":"2026-11-02T09:00:00Z"}"# + "\n"
            }
        }
        return Array(text.utf8)
    }

    @Test func orderAndFirstErrorAreThoseOfTheInput() throws {
        let bytes = Self.lines(3000, badAt: [1500, 2900])
        #expect {
            try FeedReader.read(bytes, file: "big.jsonl", options: IngestOptions())
        } throws: { error in
            (error as? IngestError)?.line == 1500
        }
        let skipping = try FeedReader.read(bytes, file: "big.jsonl", options: IngestOptions(skipInvalid: true))
        #expect(skipping.events.count == 2998)
        #expect(skipping.events.map(\.id) == (1...3000).filter { $0 != 1500 && $0 != 2900 }.map { "e\($0)" })
        #expect(skipping.rejected.map(\.error.line) == [1500, 2900])
        #expect(skipping.locations.first == "line 1" && skipping.locations.last == "line 3000")
    }

    /// The runs cover every record once, in order, whatever the number of records and of helpers
    /// (none: the calling thread takes every run).
    @Test("runs cover every record once and come back in order", arguments: [0, 1, 255, 511, 512, 513, 5_000, 65_537])
    func runsCoverEveryRecord(records: Int) {
        for helpers in [0, 1, Parallel.cores] {
            var none: [ParsedInput] = []
            let runs = Parallel.Runs(records, releasing: &none) { run in run }
            runs.start(helpers: helpers)
            let got = runs.finish()
            #expect(got.first?.lowerBound ?? 0 == 0 && (got.last?.upperBound ?? 0) == records, "\(records) records, \(helpers) helpers")
            #expect(zip(got, got.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound }, "\(records) records, \(helpers) helpers")
            #expect(got.count == (records < Parallel.smallestParallelBatch ? 1 : min(Parallel.cores * 4, records / 256)))
        }
    }
}
