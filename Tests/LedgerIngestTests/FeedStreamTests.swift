import DeliveryLedger
import Foundation
import Testing
@testable import LedgerIngest

/// Reading in chunks gives what reading the whole input gives: the same events (raw bytes included),
/// skipped counts, rejected records and first error — whatever the chunk size.
@Suite("FeedStream")
struct FeedStreamTests {
    /// All batches of a stream over `bytes` served `chunk` bytes at a time, merged.
    static func stream(_ bytes: [UInt8], chunk: Int, options: IngestOptions = IngestOptions(),
                       recordsPerBatch: Int = FeedStream.recordsPerBatch) throws(IngestError) -> ParsedInput {
        var offset = 0
        var reader = FeedStream(file: "f", options: options, chunkSize: chunk, recordsPerBatch: recordsPerBatch) { (n: Int) throws(IngestError) -> [UInt8] in
            let end = min(bytes.count, offset + n)
            defer { offset = end }
            return Array(bytes[offset..<end])
        }
        return try drain(&reader)
    }

    /// Every batch of `reader`, merged.
    static func drain(_ reader: inout FeedStream) throws(IngestError) -> ParsedInput {
        var merged = ParsedInput(format: .jsonl)
        while let batch = try reader.next() {
            merged.events += batch.events
            merged.locations += batch.locations
            merged.rejected += batch.rejected
            for (k, v) in batch.skipped { merged.skipped[k, default: 0] += v }
        }
        merged.format = reader.detectedFormat ?? .jsonl
        return merged
    }

    static func same(_ a: ParsedInput, _ b: ParsedInput) -> Bool {
        a.format == b.format && a.events == b.events && a.locations == b.locations && a.skipped == b.skipped && a.rejected == b.rejected
    }

    static let corpusFiles = [
        "sparkpost/gosparkpost/webhook-batch-sample-events.json", "sparkpost/java-sparkpost/webhook-batch-captured-2017.json",
        "sparkpost/official-docs/webhook-events-samples-api.json", "sparkpost/anymail/bounce_event.json",
    ]

    @Test("corpus files: chunks of 1, 7, 64 bytes and 4 MiB give the whole read's result", arguments: corpusFiles)
    func corpus(_ path: String) throws {
        let bytes = try Corpus.bytes(path)
        let whole = try FeedReader.read(bytes, file: "f", options: IngestOptions())
        #expect(!whole.events.isEmpty || !whole.skipped.isEmpty)
        for chunk in [1, 7, 64, FeedStream.chunkSize] {
            #expect(Self.same(try Self.stream(bytes, chunk: chunk), whole), "\(path) in chunks of \(chunk)")
        }
    }

    /// A batch whose elements end in a broken structure (a missing comma) is decoded while the
    /// stream has nothing left to locate: its events and its error must still come out (the pipelined
    /// reader once ended the stream there, dropping the batch and the error: every event after the
    /// previous batch lost without a word).
    @Test("a structure broken in a later batch fails the stream at that element, as the whole read does", arguments: [1, 3, 16, 64])
    func brokenStructureInALaterBatch(recordsPerBatch: Int) throws {
        func element(_ n: Int) -> String {
            #"{"msys":{"message_event":{"type":"delivery","event_id":"E\#(n)","campaign_id":"C","rcpt_to":"a\#(n)@b.example","timestamp":"1454442600"}}}"#
        }
        let elements = (0..<50).map(element)
        // No comma between elements 36 and 37.
        let text = "[" + elements[0..<37].joined(separator: ",") + elements[37...].joined(separator: ",") + "]"
        let bytes = Array(text.utf8)
        let missing = 1 + elements[0..<37].map { $0.utf8.count + 1 }.reduce(0, +) - 1  // where ',' or ']' was expected
        for chunk in [64, 1000, FeedStream.chunkSize] {
            let streamed = Result { () throws(IngestError) in try Self.stream(bytes, chunk: chunk, recordsPerBatch: recordsPerBatch) }
            guard case .failure(let error) = streamed else {
                Issue.record("chunks of \(chunk), batches of \(recordsPerBatch): read without an error")
                continue
            }
            #expect(error.element == 37 && error.offset == missing, "chunks of \(chunk), batches of \(recordsPerBatch): \(error)")
            var skip = IngestOptions()
            skip.skipInvalid = true
            let kept = try Self.stream(bytes, chunk: chunk, options: skip, recordsPerBatch: recordsPerBatch)
            #expect(kept.events.map(\.id) == (0..<37).map { "sparkpost:delivery:E\($0)" } && kept.rejected.count == 1,
                    "chunks of \(chunk), batches of \(recordsPerBatch): \(kept.events.count) events, \(kept.rejected.count) rejected")
        }
        let whole = Result { () throws(IngestError) in try FeedReader.read(bytes, file: "f", options: IngestOptions()) }
        guard case .failure(let error) = whole else { Issue.record("the whole read accepted it"); return }
        #expect(error.element == 37 && error.offset == missing)
    }

    /// The last batch is still decoding when locating reaches the end of a whole array: it comes out
    /// (the pipelined reader once dropped it: an input under 1 MiB of more than 16,384 elements lost
    /// every element after the 16,384th).
    @Test("every batch of a whole array comes out, the last included, whatever the batch size", arguments: [1, 2, 7, 49, 50, 51])
    func everyBatchComesOut(recordsPerBatch: Int) throws {
        let delivery = (0..<25).map { #"{"msys":{"message_event":{"type":"delivery","event_id":"E\#($0)","campaign_id":"C","rcpt_to":"a\#($0)@b.example","timestamp":"1454442600"}}}"# }
        let opens = Array(repeating: #"{"msys":{"track_event":{"type":"open"}}}"#, count: 25)
        let bytes = Array(("[" + (opens + delivery).joined(separator: ",") + "]").utf8)
        let whole = try FeedReader.read(bytes, file: "f", options: IngestOptions())
        #expect(whole.events.count == 25 && whole.skipped == ["open": 25])
        for chunk in [16, 4096, FeedStream.chunkSize] {
            #expect(Self.same(try Self.stream(bytes, chunk: chunk, recordsPerBatch: recordsPerBatch), whole),
                    "chunks of \(chunk), batches of \(recordsPerBatch)")
        }
    }

    /// The CLI reads files and standard input through ``FeedStream/reading(fd:file:options:)``, which
    /// reads each chunk straight into a new buffer after the record not yet complete: a file of
    /// several chunks, with elements and lines across every chunk boundary, reads as the whole read.
    @Test("a file read through its descriptor, chunk after chunk, gives the whole read's result")
    func readingAFileDescriptor() throws {
        // ~12 MiB: elements of varied length (a padding member), so that chunk boundaries fall at
        // every place in an element; an open event (skipped) every 7th.
        var elements: [String] = []
        var lines: [String] = []
        for n in 0..<20_000 {
            let pad = String(repeating: "p", count: (n * 37) % 900)
            if n % 7 == 3 {
                elements.append(#"{"msys":{"track_event":{"type":"open","pad":"\#(pad)"}}}"#)
            } else {
                elements.append(#"{"msys":{"message_event":{"type":"delivery","event_id":"E\#(n)","campaign_id":"C","rcpt_to":"a\#(n)@b.example","timestamp":"1454442600","pad":"\#(pad)"}}}"#)
            }
            lines.append(#"{"id":"e\#(n)-\#(pad)","kind":"relay","delivery":"d","recipient":"r\#(n)@example.com","occurredAt":"2026-11-02T09:00:00Z"}"#)
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("feedstream-fd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for (name, text) in [("feed.json", "[\n" + elements.joined(separator: ",\n") + "\n]\n"), ("feed.jsonl", lines.joined(separator: "\n") + "\n")] {
            let bytes = Array(text.utf8)
            #expect(bytes.count > 2 * FeedStream.chunkSize)
            let path = directory.appendingPathComponent(name).path
            #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
            let whole = try FeedReader.read(bytes, file: "f", options: IngestOptions())
            let fd = open(path, O_RDONLY)
            #expect(fd >= 0)
            defer { close(fd) }
            var reader = FeedStream.reading(fd: fd, file: "f", options: IngestOptions())
            let merged = try Self.drain(&reader)
            #expect(whole.events.count == (name == "feed.json" ? 20_000 - 2_857 : 20_000))
            #expect(Self.same(merged, whole), "\(name)")
        }
    }

    /// With skipInvalid, a document whose structure breaks keeps the rest of the input as one
    /// rejected record only when that rest ends within 1 MiB; a longer rest (two webhook batches
    /// concatenated) is an error, whole or streamed — before, the stream kept 1 MiB of it, dropped the
    /// rest and succeeded (a breaker lost a whole second file that way).
    @Test("skipInvalid: a broken structure followed by more than 1 MiB is an error, whole or streamed")
    func brokenStructureWithALongRest() throws {
        func element(_ n: Int) -> String {
            #"{"msys":{"message_event":{"type":"delivery","event_id":"E\#(n)","campaign_id":"C","rcpt_to":"a\#(n)@b.example","timestamp":"1454442600"}}}"#
        }
        let first = "[" + (0..<10).map(element).joined(separator: ",") + "]"
        let second = "[" + (10..<20_000).map(element).joined(separator: ",") + "]"
        let options = IngestOptions(skipInvalid: true)
        let long = Array((first + second).utf8)
        #expect(long.count - first.utf8.count > FeedStream.maximumRecordLength)
        for chunk in [FeedStream.chunkSize, 65_536] {
            #expect(throws: IngestError.self, "chunks of \(chunk)") { try Self.stream(long, chunk: chunk, options: options) }
        }
        let whole = try #require(readError(long, file: "f", options: options))
        #expect(whole.element == 10 && whole.message.contains("more than 1 MiB"), "\(whole)")
        // A short rest is the rejected record, whole or streamed, as before.
        let short = Array((first + "[" + element(99) + "]").utf8)
        let read = try FeedReader.read(short, file: "f", options: options)
        #expect(read.events.count == 10 && read.rejected.count == 1 && read.rejected[0].raw == Array(("[" + element(99) + "]").utf8))
        #expect(Self.same(try Self.stream(short, chunk: 64, options: options), read))
    }

    /// A SparkPost (or provider) document after more than a chunk of white space is read, not taken
    /// for an empty input (it was: every element lost with --allow-empty).
    @Test func aDocumentAfterSeveralChunksOfWhiteSpaceIsRead() throws {
        let doc = #"[{"msys":{"message_event":{"type":"delivery","event_id":"E1","campaign_id":"C","rcpt_to":"a@b.example","timestamp":"1454442600"}}}]"#
        let bytes = [UInt8](repeating: UInt8(ascii: " "), count: 3 * 4096 + 17) + Array(doc.utf8)
        let read = try Self.stream(bytes, chunk: 4096, options: IngestOptions(format: .sparkpost))
        #expect(read.events.map(\.id) == ["sparkpost:delivery:E1"])
    }

    /// A descriptor that cannot be read (a directory) is an error naming the file, not a crash.
    @Test func anUnreadableDescriptorIsAnError() {
        let fd = open(FileManager.default.temporaryDirectory.path, O_RDONLY)
        #expect(fd >= 0)
        defer { close(fd) }
        var reader = FeedStream.reading(fd: fd, file: "somewhere", options: IngestOptions())
        #expect {
            _ = try reader.next()
        } throws: { error in
            "\(error)".contains("somewhere") && "\(error)".contains("cannot be read: Is a directory")
        }
    }

    /// A webhook array cut inside a string: the error names the byte where the unclosed string opens
    /// (not where its element starts), whole or streamed in any chunks; the rejected record
    /// (`--skip-invalid`) is the element from its first byte.
    @Test func aCutStringIsNamedWhereItOpens() throws {
        let good = #"{"msys":{"message_event":{"type":"delivery","event_id":"E","campaign_id":"C","rcpt_to":"a@b.example","timestamp":"1454442600"}}}"#
        let cut = #"{"msys":{"message_event":{"type":"delive"#
        let text = "[" + good + ", " + cut
        let bytes = Array(text.utf8)
        let elementStart = 1 + good.utf8.count + 2
        let stringStart = elementStart + cut.utf8.count - #""delive"#.utf8.count
        #expect(bytes[stringStart] == UInt8(ascii: "\""))
        var results = [Result { () throws(IngestError) in try FeedReader.read(bytes, file: "f", options: IngestOptions()) }]
        for chunk in [1, 5, 33, 4096] { results.append(Result { () throws(IngestError) in try Self.stream(bytes, chunk: chunk, options: IngestOptions()) }) }
        for result in results {
            guard case .failure(let error) = result else { Issue.record("read without error"); continue }
            #expect(error.element == 1 && error.offset == stringStart && error.message.contains("a string is not closed"), "\(error)")
        }
        let skipped = try FeedReader.read(bytes, file: "f", options: IngestOptions(skipInvalid: true))
        #expect(skipped.events.count == 1)
        #expect(skipped.rejected.map(\.raw) == [Array(cut.utf8)])
        #expect(skipped.rejected.first?.error.offset == stringStart)
    }

    @Test("good and bad records, both formats: same events, rejects and first error in chunks")
    func goodAndBad() throws {
        let good = #"{"msys":{"message_event":{"type":"delivery","event_id":"E","campaign_id":"C","rcpt_to":"a@b.example","timestamp":"1454442600"}}}"#
        let bad = #"{"msys":{"message_event":{"type":"delivery","event_id":"F","campaign_id":"C","rcpt_to":"a@b.example","timestamp":"1454442600",}}}"#
        let line = #"{"id":"r1","kind":"relay","delivery":"d","recipient":"a@b.example","occurredAt":1}"#
        let inputs: [String] = [
            "[" + good + ",\n" + bad + ", " + good.replacingOccurrences(of: "\"E\"", with: "\"G\"") + "]",
            "[" + good + "," + good + ",]",
            "[" + good + "] x",
            "[" + good + ", " + String(good.prefix(40)),
            line + "\n" + line.replacingOccurrences(of: "}", with: ",}") + "\r\n\n" + line.replacingOccurrences(of: "r1", with: "r2"),
            line + "\n" + line.replacingOccurrences(of: "r1", with: "r\\ud800"),
            "[]", "", "  \n",
        ]
        for text in inputs {
            let bytes = Array(text.utf8)
            for skip in [false, true] {
                let options = IngestOptions(skipInvalid: skip)
                let whole = Result { () throws(IngestError) in try FeedReader.read(bytes, file: "f", options: options) }
                for chunk in [1, 5, 33] {
                    let streamed = Result { () throws(IngestError) in try Self.stream(bytes, chunk: chunk, options: options) }
                    switch (whole, streamed) {
                    case let (.success(a), .success(b)): #expect(Self.same(a, b), "\(text) chunk \(chunk) skip \(skip)")
                    case let (.failure(a), .failure(b)): #expect(a == b, "\(text) chunk \(chunk)")
                    default: Issue.record("\(text) chunk \(chunk) skip \(skip): \(whole) vs \(streamed)")
                    }
                }
            }
        }
    }

    @Test("input that is not JSON fails after a bounded look; an endless line or element is refused at 1 MiB")
    func boundedLook() {
        var served = 0
        func zeros(_ options: IngestOptions) -> IngestError? {
            served = 0
            var reader = FeedStream(file: "-", options: options, chunkSize: 1 << 16) { (n: Int) throws(IngestError) -> [UInt8] in
                served += n
                return [UInt8](repeating: 0, count: n)
            }
            do { while try reader.next() != nil {}; return nil } catch { return error }
        }
        #expect(zeros(IngestOptions())?.message == "cannot tell the format; use --format")
        #expect(served <= 2 << 20)
        #expect(zeros(IngestOptions(format: .jsonl))?.message.hasPrefix("longer than 1 MiB") == true)
        #expect(served <= 3 << 20)
        var spaces = 0
        var reader = FeedStream(file: "-", options: IngestOptions(format: .sparkpost), chunkSize: 1 << 16) { (n: Int) throws(IngestError) -> [UInt8] in
            spaces += 1
            return spaces == 1 ? Array("[{\"a\":\"".utf8) : [UInt8](repeating: 0x61, count: n)
        }
        #expect(throws: IngestError.self) { while try reader.next() != nil {} }
        #expect(spaces * (1 << 16) <= 3 << 20)
        // Bounce messages and Postfix logs are read whole: an endless one is refused at its bound
        // (found by a tester: `/dev/zero` as a bounce grew to 1.7 GB).
        let bounce = zeros(IngestOptions(format: .dsn))
        #expect(bounce?.message.contains("a bounce message longer than 32 MiB") == true, "\(String(describing: bounce))")
        #expect(bounce?.offset == DSNReader.maximumMessageSize)
        #expect(served <= DSNReader.maximumMessageSize + (2 << 20))
    }

    @Test("an endless Postfix log is refused at its bound, not read into memory without end")
    func postfixLogBound() {
        var served = 0
        var reader = FeedStream(file: "-", options: IngestOptions(format: .postfix), chunkSize: 4 << 20) { (n: Int) throws(IngestError) -> [UInt8] in
            served += n
            return (0..<n).map { $0 % 2 == 0 ? 0x79 : 0x0A }  // `yes`: "y\n" lines
        }
        do {
            while try reader.next() != nil {}
            Issue.record("expected an error")
        } catch {
            #expect(error.message.contains("a Postfix log longer than 512 MiB"), "\(error)")
        }
        #expect(served <= FeedStream.maximumPostfixLogLength + (8 << 20))
    }

    @Test("a Postfix line without end is refused at 1 MiB, naming its line and offset")
    func postfixLineBound() {
        var served = 0
        var reader = FeedStream(file: "-", options: IngestOptions(format: .postfix), chunkSize: 1 << 16) { (n: Int) throws(IngestError) -> [UInt8] in
            defer { served += n }
            // Two lines, then `/dev/zero`.
            let head = Array("a\nb\n".utf8)
            return (served..<served + n).map { $0 < head.count ? head[$0] : 0 }
        }
        do {
            while try reader.next() != nil {}
            Issue.record("expected an error")
        } catch {
            #expect(error.message.contains("a line longer than 1 MiB"), "\(error)")
            #expect(error.line == 3 && error.offset == 4, "\(error)")
        }
        #expect(served <= FeedStream.maximumPostfixLineLength + (2 << 20))
    }
}
