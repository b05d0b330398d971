@_spi(Benchmark) @testable import DeliveryLedger
import Foundation
import LedgerIngest
import LedgerTestSupport
import LedgerWorkload
import Testing

/// The raw source bytes of every event come back exactly as they were read, whatever way the
/// record keeps them (``RawEncoding``: stored, zstd, zstd with a dictionary trained on the feed's
/// own documents), from the appending instance, a fresh one and a read-only one — on the whole
/// shared corpus and on a generated feed.
@Suite struct RawBytesTests {
    /// Appends `batches`, returning each appended position's raw bytes (duplicates append nothing).
    static func append(_ batches: [[Event]], to ledger: Ledger) throws -> [UInt64: [UInt8]] {
        var expected: [UInt64: [UInt8]] = [:]
        for events in batches {
            let result = try ledger.append(events)
            let duplicates = Set(result.duplicates)
            for (i, p) in result.positions.enumerated() where !duplicates.contains(i) { expected[p] = events[i].raw }
        }
        return expected
    }

    /// Every event of the ledger at `path` read back, through a new instance (no dictionary cached)
    /// opened with `options`, has the raw bytes `expected` says.
    static func expectSameRaw(_ path: String, _ expected: [UInt64: [UInt8]], readOnly: Bool) throws {
        var options = LedgerOptions()
        options.readOnly = readOnly
        options.createIfMissing = false
        let ledger = try Ledger(path: path, options: options)
        var seen = 0, wrong: [UInt64] = []
        try ledger.forEachEvent { e in
            seen += 1
            if expected[e.position] != e.event.raw { wrong.append(e.position) }
            return true
        }
        #expect(seen == expected.count)
        #expect(wrong.isEmpty, "positions whose raw bytes differ: \(wrong.prefix(10))")
    }

    /// How each record keeps its raw bytes, counted by ``RawEncoding`` code; and the records' and
    /// the raw bytes' total sizes.
    static func encodings(_ ledger: Ledger) throws -> (codes: [UInt8: Int], recordBytes: Int, rawBytes: Int) {
        var codes: [UInt8: Int] = [:]
        var recordBytes = 0, rawBytes = 0
        try ledger.forEachStoredRecord { r in
            let decoded = try RecordCodec.decode(r.record, raw: .skip)
            codes[decoded.rawReference.code, default: 0] += 1
            recordBytes += r.record.count
            return true
        }
        try ledger.forEachEvent { rawBytes += $0.event.raw.count; return true }
        return (codes, recordBytes, rawBytes)
    }

    @Test func aGeneratedFeedComesBackExactlyAndItsRawBytesAreCompressedWithADictionary() throws {
        let workload = Workload(spec: WorkloadSpec(deliveries: 1, recipientsPerDelivery: 1_500, seed: 11))
        let t = try TestLedger()
        var batches: [[Event]] = []
        try workload.forEachSparkPostBatch { batch in
            batches.append(try FeedReader.read(batch, file: "batch", options: IngestOptions(format: .sparkpost)).events)
        }
        let expected = try Self.append(batches, to: t.ledger)
        #expect(expected.count > LedgerOptions().rawDictionaryTrainingSamples * 2)
        let (codes, recordBytes, rawBytes) = try Self.encodings(t.ledger)
        // One dictionary for the SparkPost source, introduced by one record (code 3), used by the
        // records after it (code 2); the first ~1,000 documents stay as they are (code 0).
        #expect(codes[RawEncoding.zstdNewDictionary] == 1)
        #expect((codes[RawEncoding.zstdDictionary] ?? 0) > expected.count / 2)
        #expect((codes[RawEncoding.stored] ?? 0) > LedgerOptions().rawDictionaryTrainingSamples / 2)
        #expect(recordBytes * 2 < rawBytes, "records \(recordBytes) B for \(rawBytes) B of raw documents")
        try Self.expectSameRaw(t.directory.path("ledger.lmdb"), expected, readOnly: false)
        try Self.expectSameRaw(t.directory.path("ledger.lmdb"), expected, readOnly: true)
        #expect(try t.ledger.verify().problems.isEmpty)
    }

    /// Every corpus file a reader takes, with a training threshold the corpus's DSN emails reach,
    /// so that they get a dictionary (the other sources stay stored, or zstd without dictionary).
    @Test func theWholeCorpusComesBackExactly() throws {
        let root = try Corpus.folder()
        var files: [URL] = []
        for folder in ["sparkpost", "postfix", "sisimai/emails", "other"] {
            let url = root.appendingPathComponent(folder)
            guard let walk = FileManager.default.enumerator(at: url, includingPropertiesForKeys: nil) else { continue }
            for case let file as URL in walk where ["json", "log", "eml", "jsonl", "txt"].contains(file.pathExtension) && !file.lastPathComponent.hasPrefix("README") {
                files.append(file)
            }
        }
        files.sort { $0.path < $1.path }
        var options = IngestOptions()
        options.year = 2025
        options.skipInvalid = true
        options.delivery = "corpus"  // bounces and Postfix lines without a delivery header
        var parsed: [(String, [Event])] = []
        for file in files {
            options.format = file.pathExtension == "log" ? .postfix : .auto
            guard let input = try? FeedReader.read(Array(Data(contentsOf: file)), file: file.lastPathComponent, options: options),
                  !input.events.isEmpty else { continue }
            parsed.append((file.path, input.events))
        }
        #expect(parsed.count > 300, "corpus files read: \(parsed.count)")
        var ledgerOptions = LedgerOptions()
        ledgerOptions.rawDictionaryTrainingSamples = 150
        let t = try TestLedger(options: ledgerOptions)
        // Ids made distinct per file (samples of one provider's docs share theirs).
        let batches = parsed.enumerated().map { n, file in file.1.map { e in var e = e; e.id = "f\(n):" + e.id; return e } }
        let expected = try Self.append(batches, to: t.ledger)
        let (codes, _, _) = try Self.encodings(t.ledger)
        // The DSN emails (391 files) reach the threshold; the other sources have fewer events.
        #expect(codes[RawEncoding.zstdNewDictionary] == 1, "\(codes)")
        #expect((codes[RawEncoding.zstdDictionary] ?? 0) > 100, "\(codes)")
        #expect((codes[RawEncoding.zstd] ?? 0) > 0, "\(codes)")  // large DSN emails before their dictionary
        try Self.expectSameRaw(t.directory.path("ledger.lmdb"), expected, readOnly: false)
        try Self.expectSameRaw(t.directory.path("ledger.lmdb"), expected, readOnly: true)
        #expect(try t.ledger.verify().problems.isEmpty)
    }
}
