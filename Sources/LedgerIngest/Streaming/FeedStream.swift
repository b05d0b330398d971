import DeliveryLedger
import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a JSON feed — canonical JSON Lines, a SparkPost webhook batch / Events-API document, or an
/// email service provider's JSON array of events (SendGrid, grouped Mailjet; a provider's single
/// object or form body is read whole, at most 64 MiB) — from a byte stream in chunks, and hands its records back in batches, so that memory does not grow
/// with the input's size (domain.md §8; the rules of each format are those of ``FeedReader``).
///
/// The stream is read in chunks of ``chunkSize`` bytes into one buffer; each complete record (a line,
/// an array element) is decoded by the same code as ``FeedReader/read(_:file:options:)`` — on every
/// core — and the bytes before the first unfinished record are dropped. Memory is therefore bounded by
/// a chunk, one batch of events and the longest record, which is limited to ``maximumRecordLength``:
/// - a JSON line longer than that is an error (``CanonicalLineReader/maximumLineLength``, 1 MiB);
/// - a SparkPost element longer than that is an error, and so is a `{…}` document (Events API or
///   single event) longer than ``maximumObjectDocumentLength`` (64 MiB: the Events API returns
///   pages of at most 10,000 events), which is read whole; webhook batches `[…]` stream at any size.
///
/// The format is told from the first chunk (``FeedReader``'s detection, a bounded look): input that
/// is not JSON fails at once, whatever its length. Errors are the ``FeedReader``'s, with line numbers,
/// element indexes and byte offsets counted from the stream's first byte. A broken document structure
/// (an element cut short, a missing `]`) ends the read; with ``IngestOptions/skipInvalid`` the bytes
/// from there (at most ``maximumRecordLength`` of them) form one rejected record.
public struct FeedStream {
    /// Bytes asked of the source at a time: 4 MiB.
    public static let chunkSize = 4 << 20
    /// Refuses an array element longer than ``maximumRecordLength``, naming it: the same limit for a
    /// streamed file and a body read whole (a webhook POST), so that an acknowledged batch can be
    /// ingested again from a saved copy.
    static func checkElementLength(_ range: Range<Int>, element: Int, base: Int = 0, file: String) throws(IngestError) {
        guard range.count > maximumRecordLength else { return }
        throw IngestError(file: file, element: element, offset: base + range.lowerBound,
                          message: "an element longer than 1 MiB (\(range.count) bytes; at most \(maximumRecordLength)): not a webhook event")
    }

    /// The longest record (a JSON line, a SparkPost element), in bytes: 1 MiB.
    public static let maximumRecordLength = CanonicalLineReader.maximumLineLength
    /// The longest `{…}` SparkPost document, read whole: 64 MiB.
    public static let maximumObjectDocumentLength = 64 << 20
    /// Records decoded per batch (a batch's events are handed together): 16,384.
    public static let recordsPerBatch = 16_384

    private let file: String
    private let options: IngestOptions
    private let chunkSize: Int
    private let input: Input

    /// Where the bytes come from.
    private enum Input {
        /// A source that returns up to the number of bytes asked (an empty array at the end).
        case chunks((Int) throws(IngestError) -> [UInt8])
        /// A file descriptor (``reading(fd:file:options:)``): reads into the given memory and returns
        /// the bytes read (0 at the end), so that a chunk is read straight into the buffer.
        case descriptor((UnsafeMutableBufferPointer<UInt8>) throws(IngestError) -> Int)
    }

    private var buffer: [UInt8] = []
    /// The stream offset of `buffer[0]`.
    private var base = 0
    private var position = 0
    private var endOfInput = false
    private var state = State.start
    private var format: InputFormat?
    private var lineNumber = 0
    private var elementIndex = 0

    private enum State {
        case start
        case lines
        case arrayFirst
        case arrayNext
        case afterDocument
        case done
    }

    /// Creates a reader.
    ///
    /// - Parameters:
    ///   - file: the input's name, used in errors only.
    ///   - options: format (``InputFormat/auto``, ``InputFormat/jsonl`` or ``InputFormat/sparkpost``),
    ///     SparkPost delivery key, whether to skip bad records.
    ///   - source: returns up to the given number of the stream's next bytes; an empty array at the end.
    ///     Its errors are passed on.
    ///   - chunkSize: bytes asked of `source` at a time (``chunkSize`` by default; small in tests).
    ///   - recordsPerBatch: the most SparkPost or provider elements located and decoded as one batch
    ///     (``recordsPerBatch`` by default; a few in tests and fuzzing, so that small inputs cross
    ///     batches too).
    public init(file: String, options: IngestOptions, chunkSize: Int = FeedStream.chunkSize,
                recordsPerBatch: Int = FeedStream.recordsPerBatch, source: @escaping (Int) throws(IngestError) -> [UInt8]) {
        self.init(file: file, options: options, chunkSize: chunkSize, recordsPerBatch: recordsPerBatch, input: .chunks(source))
    }

    private init(file: String, options: IngestOptions, chunkSize: Int, recordsPerBatch: Int, input: Input) {
        self.file = file
        self.options = options
        self.chunkSize = max(1, chunkSize)
        self.batchLimit = max(1, recordsPerBatch)
        self.input = input
    }

    /// The most elements a batch holds.
    private let batchLimit: Int

    /// The format read: known after the first ``next()`` (``InputFormat/jsonl`` for empty input).
    public var detectedFormat: InputFormat? { format }

    /// Reads an open file descriptor in chunks (the CLI's files and standard input use this), to
    /// its end of file.
    ///
    /// - Parameters:
    ///   - fd: an open file descriptor, read with `read(2)` (retried on `EINTR`); the caller closes it.
    ///   - file: the name errors give.
    /// - Throws (from ``next()``): ``IngestError`` "cannot be read: …" with `strerror`'s text when `read(2)` fails.
    public static func reading(fd: Int32, file: String, options: IngestOptions) -> FeedStream {
        let readInto = { (out: UnsafeMutableBufferPointer<UInt8>) throws(IngestError) -> Int in
            var filled = 0
            while filled < out.count {
                let got = read(fd, out.baseAddress! + filled, out.count - filled)
                if got < 0 {
                    if errno == EINTR { continue }
                    let failure = errno
                    throw IngestError(file: file, message: "cannot be read: \(String(cString: strerror(failure)))")
                }
                if got == 0 { break }
                filled += got
            }
            return filled
        }
        return FeedStream(file: file, options: options, chunkSize: FeedStream.chunkSize, recordsPerBatch: FeedStream.recordsPerBatch,
                          input: .descriptor(readInto))
    }

    /// Drops the bytes before `position` and reads a chunk after the rest.
    private mutating func fill() throws(IngestError) {
        guard !endOfInput else { return }
        switch input {
        case .descriptor(let readInto):
            // One new buffer: the bytes kept (a record not yet complete) and the chunk read straight
            // after them. The old buffer is usually held by a batch being decoded, so changing it in
            // place would copy it whole first.
            let keep = buffer.count - position
            var failure: IngestError?
            var got = 0
            let next = [UInt8](unsafeUninitializedCapacity: keep + chunkSize) { out, filled in
                buffer.withUnsafeBufferPointer { old in
                    if keep > 0 { out.baseAddress!.initialize(from: old.baseAddress! + position, count: keep) }
                }
                do throws(IngestError) { got = try readInto(UnsafeMutableBufferPointer(rebasing: out[keep...])) } catch { failure = error }
                filled = keep + got
            }
            if let failure { throw failure }
            buffer = next
            base += position
            position = 0
            if got == 0 { endOfInput = true }
        case .chunks(let source):
            if position > 0 {
                buffer.removeSubrange(0..<position)
                base += position
                position = 0
            }
            let more = try source(chunkSize)
            if more.isEmpty { endOfInput = true } else { buffer.append(contentsOf: more) }
        }
    }

    /// The first byte after the white space from `i`, reading on while the buffer holds only white
    /// space (a document after more than a chunk of it was read as empty: found by a breaker).
    private mutating func skipWhitespaceReading(from i: Int) throws(IngestError) -> Int {
        var j = skipWhitespace(i)
        while j == buffer.count && !endOfInput {
            position = j
            try fill()
            j = skipWhitespace(position)
        }
        return j
    }

    private func skipWhitespace(_ i: Int) -> Int {
        var i = i
        while i < buffer.count, JSONSyntax.isWhitespace(buffer[i]) { i += 1 }
        return i
    }

    /// The next batch of records: events, skipped counts and rejected records; `nil` at the end.
    ///
    /// - Throws: the first ``IngestError`` (unless ``IngestOptions/skipInvalid``), as
    ///   ``FeedReader/read(_:file:options:)`` does; a record longer than the limits above; the source's
    ///   errors. A bad format (not JSON Lines nor SparkPost) is an error after the first chunk.
    public mutating func next() throws(IngestError) -> ParsedInput? {
        if state == .start { try start() }
        if let whole = pendingWhole { pendingWhole = nil; return whole }
        if !pendingParts.isEmpty { return try nextPart() }
        // A batch still decoding comes out whatever the state: locating may have reached the end
        // (or a broken structure) while it decoded.
        if decoding != nil { return try nextElements() }
        switch state {
        case .done, .start: return nil
        case .lines: return try nextLines()
        case .arrayFirst, .arrayNext, .afterDocument: return try nextElements()
        }
    }

    private mutating func start() throws(IngestError) {
        while buffer.count < 1 << 20 && !endOfInput { try fill() }
        let first = FeedReader.byteOrderMarkLength(buffer)
        let format = options.format == .auto ? try FeedReader.detect(buffer, from: first, file: file) : options.format
        self.format = format
        position = first
        switch format {
        case .jsonl, .auto:
            self.format = .jsonl
            state = .lines
        case .sparkpost:
            let i = try skipWhitespaceReading(from: first)
            guard i < buffer.count else { state = .done; return }
            switch buffer[i] {
            case UInt8(ascii: "["):
                position = i + 1
                state = .arrayFirst
            case UInt8(ascii: "{"):
                // Read whole (bounded), then as FeedReader does.
                while !endOfInput {
                    guard buffer.count - position <= FeedStream.maximumObjectDocumentLength else {
                        throw IngestError(file: file, offset: base + position, message: "a SparkPost {…} document longer than 64 MiB: give it as a webhook batch [ … ] (streamed at any size) or in pages")
                    }
                    try fill()
                }
                state = .done
                pendingWhole = try SparkPostReader.read(buffer, from: position, file: file, deliveryKey: options.deliveryKey,
                                                        skipInvalid: options.skipInvalid)
            default:
                throw IngestError(file: file, offset: base + i, message: "not a SparkPost document: expected '[' or '{'")
            }
        case .dsn, .postfix, .ses, .sendgrid, .mailgun, .postmark, .brevo, .mailjet, .postal:
            // A provider's JSON array (a SendGrid batch, grouped Mailjet events, bodies saved together)
            // streams element by element, as a SparkPost batch does.
            let i = format.isProvider ? try skipWhitespaceReading(from: first) : skipWhitespace(first)
            if format.isProvider, i < buffer.count, buffer[i] == UInt8(ascii: "[") {
                position = i + 1
                state = .arrayFirst
                return
            }
            // Bounce messages, mail logs and other provider bodies (one object, a form body) are read
            // whole, by FeedReader (a provider body at most ProviderReader.maximumDocumentLength).
            // Each has a bound, so that memory never grows with an endless input (`/dev/zero`,
            // `yes`): a bounce message is at most DSNReader.maximumMessageSize (32 MiB, its reader's
            // own limit), a Postfix log at most FeedStream.maximumPostfixLogLength (read whole:
            // its deliveries are assembled across lines by queue id).
            // A Postfix log's lines are syslog lines, a few KiB at most: one longer than
            // maximumPostfixLineLength is no log line (`/dev/zero`, a binary file), refused at once
            // rather than read up to the whole log's bound (found by a tester: 687 MB, still growing).
            var lineStart = position, scanned = position
            while !endOfInput {
                if format == .postfix {
                    // The last newline of what the last fill added, looked for from its end: a few
                    // bytes back in a log, the whole fill only when it holds no newline.
                    let last = buffer.withUnsafeBufferPointer { all -> Int? in
                        var i = all.count - 1
                        while i >= scanned { if all[i] == 0x0A { return i }; i -= 1 }
                        return nil
                    }
                    if let last { lineStart = last + 1 }
                    scanned = buffer.count
                    if buffer.count - lineStart > Self.maximumPostfixLineLength {
                        let line = buffer[position..<lineStart].reduce(1) { $1 == 0x0A ? $0 + 1 : $0 }
                        throw IngestError(file: file, line: line, offset: base + lineStart,
                                          message: "a line longer than \(Self.maximumPostfixLineLength >> 20) MiB: not a Postfix log line (syslog lines are a few KiB)")
                    }
                }
                if format.isProvider, buffer.count - position > ProviderReader.maximumDocumentLength {
                    throw IngestError(file: file, offset: base + position, message: "a \(format.rawValue) body longer than 64 MiB: give it in several files")
                }
                if format == .dsn, buffer.count - position > DSNReader.maximumMessageSize {
                    throw IngestError(file: file, offset: base + position + DSNReader.maximumMessageSize,
                                      message: "a bounce message longer than \(DSNReader.maximumMessageSize >> 20) MiB, the most the reader reads: give one message a file (a directory of .eml files)")
                }
                if format == .postfix, buffer.count - position > Self.maximumPostfixLogLength {
                    throw IngestError(file: file, offset: base + position + Self.maximumPostfixLogLength,
                                      message: "a Postfix log longer than \(Self.maximumPostfixLogLength >> 20) MiB, the most read at once: split it (by day, or with split -l) and ingest the parts")
                }
                try fill()
            }
            var whole = options
            whole.format = format
            state = .done
            pendingWhole = try FeedReader.read(buffer, file: file, options: whole)
        }
    }

    private var pendingWhole: ParsedInput?

    /// The longest Postfix log read (it is read whole; see ``start()``).
    public static let maximumPostfixLogLength = 512 << 20
    /// The longest line of a Postfix log (1 MiB, as a canonical JSON line).
    public static let maximumPostfixLineLength = 1 << 20

    // MARK: JSON Lines

    private mutating func nextLines() throws(IngestError) -> ParsedInput? {
        while true {
            // Complete lines in the buffer: up to its last newline (or its end at the end of input).
            let end: Int
            if endOfInput {
                end = buffer.count
            } else if let last = buffer[position...].lastIndex(of: 0x0A) {
                end = last + 1
            } else {
                guard buffer.count - position <= CanonicalLineReader.maximumLineLength + 2 else {
                    throw IngestError(file: file, line: lineNumber + 1, offset: base + position,
                                      message: "longer than 1 MiB; a canonical event line is at most \(CanonicalLineReader.maximumLineLength) bytes (is this JSON Lines?)")
                }
                try fill()
                continue
            }
            guard end > position else { state = .done; return nil }
            pendingParts = CanonicalLineReader.readParts(buffer, from: position, to: end, lineNumber: &lineNumber, baseOffset: base,
                                                         file: file, skipInvalid: options.skipInvalid, releasing: &handedBack)
            position = end
            return try nextPart()
        }
    }

    // MARK: SparkPost webhook batches

    /// A batch of complete elements located in the buffer, with what decoding them needs.
    private struct Located: Sendable {
        var elements: [Range<Int>]
        /// The buffer the ranges index (a copy-on-write snapshot: reading on does not disturb it).
        var bytes: [UInt8]
        /// The index of the first element in the input, and the stream offset of `bytes[0]`.
        var first: Int
        var base: Int
        /// The document's structure broke after these elements: the error, and with skipInvalid the
        /// rest of the input (as far as one record may go) as a rejected record.
        var structural: IngestError?
        var structuralRecord: RejectedRecord?
    }

    /// Decodes SparkPost (or provider) elements: the batch located last is decoded by the cores
    /// while the next one is located (and while the caller uses the batch before), so that finding
    /// elements and reading the input do not wait for decoding, nor decoding for them.
    private mutating func nextElements() throws(IngestError) -> ParsedInput? {
        if decoding == nil {
            guard let batch = try locate() else { return nil }
            decoding = Decoding(batch, format: format ?? .sparkpost, options: options, file: file, releasing: &handedBack)
        }
        var locateError: IngestError?
        var following: Located?
        do { following = try locate() } catch { locateError = error }
        guard let current = decoding else { return nil }
        // The next batch's decoding starts before this one's ends: a core that finds no run left in
        // this batch takes the next batch's runs instead of waiting for this batch's last run.
        decoding = following.map { Decoding($0, format: format ?? .sparkpost, options: options, file: file, releasing: &handedBack) }
        pendingParts = current.wait()
        if let error = current.batch.structural {
            if let record = current.batch.structuralRecord, case .success(var last)? = pendingParts.last {
                last.rejected.append(record)
                pendingParts[pendingParts.count - 1] = .success(last)
            } else {
                pendingParts.append(.failure(error))
            }
        }
        if let locateError { pendingParts.append(.failure(locateError)) }
        return try nextPart()
    }

    /// The batch being decoded, if any.
    private var decoding: Decoding?

    /// One located batch decoded by every core (``Parallel/Runs``): pool threads start on it at
    /// once, and the stream's thread takes the runs left when it calls ``wait()`` (after locating the
    /// next batch) instead of blocking.
    private final class Decoding {
        let batch: Located
        private let runs: Parallel.Runs<Result<ParsedInput, IngestError>>

        init(_ batch: Located, format: InputFormat, options: IngestOptions, file: String, releasing handedBack: inout [ParsedInput]) {
            self.batch = batch
            runs = FeedStream.decoding(batch, format: format, options: options, file: file, releasing: &handedBack)
            // A small batch (a webhook request, the end of a file) is one run, decoded by `wait()`
            // on this thread: a hop to another thread would cost more than it overlaps.
            runs.start(helpers: Parallel.cores)
        }

        func wait() -> [Result<ParsedInput, IngestError>] { runs.finish() }
    }

    /// Each run of elements is decoded into its own part (events, locations, skipped counts, rejected
    /// records, in element order; a part stops at its first error unless skipInvalid), so that the
    /// records' temporaries are made and freed on the thread that decodes them.
    private static func decoding(_ batch: Located, format: InputFormat, options: IngestOptions, file: String,
                                 releasing retired: inout [ParsedInput]) -> Parallel.Runs<Result<ParsedInput, IngestError>> {
        let found = batch.elements, bytes = batch.bytes, first = batch.first, base = batch.base, key = options.deliveryKey
        return Parallel.Runs(found.count, releasing: &retired) { run in
            let scratch = JSONSyntax.Scratch()
            return ParsedInput.part(format: format, records: run, skipInvalid: options.skipInvalid, raw: { Array(bytes[found[$0]]) }) {
                (n, part) throws(IngestError) in
                let range = found[n]
                if format.isProvider {
                    ProviderReader.append(try ProviderReader.record(bytes[range], index: first + n, baseOffset: base, file: file, format: format,
                                                                    options: options, raw: Array(bytes[range])),
                                          index: first + n, to: &part)
                } else {
                    switch try SparkPostReader.element(bytes[range], index: first + n, baseOffset: base, file: file, deliveryKey: key,
                                                               scratch: scratch) {
                    case .event(let e):
                        part.events.append(e)
                        part.locations.append("element \(first + n)")
                    case .skipped(let type): part.skipped[type, default: 0] += 1
                    }
                }
            }
        }
    }

    /// Locates the complete elements in the buffer (at most a batch); `nil` at the end of the input.
    private mutating func locate() throws(IngestError) -> Located? {
        if state == .done { return nil }
        var elements: [Range<Int>] = []
        var structural: JSONScanner.Failure?
        locate: while elements.count < batchLimit {
            let i = skipWhitespace(position)
            if i == buffer.count {
                if endOfInput {
                    if state != .afterDocument {
                        structural = .init(message: "truncated JSON: the array is not closed with ']'", offset: i)
                    }
                    state = .done
                    break locate
                }
                if !elements.isEmpty { break locate }
                try fill()
                continue
            }
            switch state {
            case .afterDocument:
                structural = .init(message: "unexpected bytes after the end of the JSON document", offset: i)
                state = .done
                break locate
            case .arrayFirst where buffer[i] == UInt8(ascii: "]"), .arrayNext where buffer[i] == UInt8(ascii: "]"):
                position = i + 1
                state = .afterDocument
                continue
            case .arrayNext:
                guard buffer[i] == UInt8(ascii: ",") else {
                    structural = .init(message: "malformed JSON: expected ',' or ']' after an element", offset: i)
                    state = .done
                    break locate
                }
                let j = skipWhitespace(i + 1)
                if j == buffer.count, !endOfInput {
                    if !elements.isEmpty { break locate }
                    try fill()
                    continue
                }
                position = i + 1
                state = .arrayFirst
                if j < buffer.count, buffer[j] == UInt8(ascii: "]") {
                    structural = .init(message: "malformed JSON: trailing comma before ']' (RFC 8259 §5)", offset: j)
                    state = .done
                    break locate
                }
                continue
            default:
                break
            }
            // An element starts at i: find its end in the buffer.
            let scanner = JSONScanner(bytes: buffer)
            var end: Int? = nil
            do {
                let e = try scanner.endOfValue(i)
                if e < buffer.count || endOfInput { end = e }
            } catch {
                if endOfInput || !error.message.hasPrefix("truncated") {
                    // Named where the fault is (an unclosed string: where it opens); the rejected
                    // record starts with its element.
                    structural = .init(message: error.message, offset: error.offset, recordStart: i)
                    state = .done
                    break locate
                }
            }
            guard let end else {
                guard buffer.count - i <= FeedStream.maximumRecordLength else {
                    throw IngestError(file: file, element: elementIndex + elements.count, offset: base + i,
                                      message: "an element that does not end within 1 MiB (\(FeedStream.maximumRecordLength) bytes): a '{' or '[' not closed, or not a webhook event")
                }
                if !elements.isEmpty { break locate }
                position = i
                try fill()
                continue
            }
            try FeedStream.checkElementLength(i..<end, element: elementIndex + elements.count, base: base, file: file)
            elements.append(i..<end)
            position = end
            state = .arrayNext
        }
        if elements.isEmpty && structural == nil { return state == .done ? nil : try locate() }
        var batch = Located(elements: elements, bytes: buffer, first: elementIndex, base: base)
        elementIndex += elements.count
        if let failure = structural {
            let error = IngestError(file: file, element: elementIndex, offset: base + failure.offset, message: failure.message)
            batch.structural = error
            if options.skipInvalid {
                // The rest of the input is the rejected record if it ends within one record's length;
                // past that, the error stands (RejectedRecord.restOfBrokenDocument).
                let start = base + (failure.recordStart ?? failure.offset)   // a stream offset
                func from() -> Int { max(0, start - self.base) }
                while !endOfInput && buffer.count - from() <= FeedStream.maximumRecordLength { try fill() }
                do {
                    batch.structuralRecord = try RejectedRecord.restOfBrokenDocument(buffer[from()...], error: error, inputEnds: endOfInput)
                } catch {
                    batch.structural = error
                }
            }
        }
        return batch
    }

    /// The parts of the last batch not handed back yet, in record order: a batch is decoded in one
    /// part per run of consecutive records (``Parallel/Runs``), and each part is
    /// handed back by its own ``next()`` rather than joined (which would copy every event). A failed
    /// part ends the stream.
    private var pendingParts: [Result<ParsedInput, IngestError>] = []

    /// The parts handed back since the last decoding: released by the next decoding's workers
    /// (``Parallel/Runs``) once the caller has let them go, rather than freed
    /// event by event on the caller's thread.
    private var handedBack: [ParsedInput] = []

    private mutating func nextPart() throws(IngestError) -> ParsedInput {
        switch pendingParts.removeFirst() {
        case .success(let part):
            handedBack.append(part)
            return part
        case .failure(let error):
            pendingParts = []
            state = .done
            throw error
        }
    }
}
