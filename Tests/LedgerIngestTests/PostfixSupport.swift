import DeliveryLedger
import Foundation
import Testing
@testable import LedgerIngest

/// Shorthands for the Postfix reader tests.
enum Postfix {
    /// The corpus folder of Postfix logs: `../shared/corpus/postfix` relative to the package root.
    static let folder: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // LedgerIngestTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // package root
        .deletingLastPathComponent()
        .appendingPathComponent("shared/corpus/postfix")

    struct MissingCorpus: Error, CustomStringConvertible {
        var path: String
        var description: String {
            "the Postfix corpus is missing: expected \(path) (../shared/corpus/postfix relative to the package root)"
        }
    }

    /// The bytes of a corpus file, e.g. `youyo-test.log`; a clear error when the corpus is missing.
    static func bytes(_ name: String) throws -> [UInt8] {
        let url = folder.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.path) else { throw MissingCorpus(path: url.path) }
        return Array(try Data(contentsOf: url))
    }

    static func options(delivery: String = "D1", year: Int? = nil, reference: String = "2025-06-01T00:00:00Z",
                        offset: Int = 0, skipInvalid: Bool = false) -> PostfixOptions {
        PostfixOptions(delivery: delivery, year: year, reference: instant(reference),
                       timeZoneOffsetSeconds: offset, skipInvalid: skipInvalid)
    }

    /// Reads a corpus file.
    static func readCorpus(_ name: String, year: Int? = nil, reference: String = "2025-06-01T00:00:00Z",
                           offset: Int = 0) throws -> ParsedInput {
        try PostfixLogReader.read(bytes(name), file: name, options: options(year: year, reference: reference, offset: offset))
    }

    /// Reads log text given as lines (joined with `\n`, with a final `\n`).
    static func read(_ lines: [String], year: Int? = nil, reference: String = "2025-06-01T00:00:00Z",
                     offset: Int = 0, skipInvalid: Bool = false) throws(IngestError) -> ParsedInput {
        let text = lines.map { $0 + "\n" }.joined()
        return try PostfixLogReader.read(Array(text.utf8), file: "mail.log",
                                         options: options(year: year, reference: reference, offset: offset, skipInvalid: skipInvalid))
    }

    /// Reads and returns the error, recording an issue when the read succeeds.
    static func error(_ lines: [String], year: Int? = 2025, sourceLocation: SourceLocation = #_sourceLocation) -> IngestError? {
        do {
            let parsed = try read(lines, year: year)
            Issue.record("expected an IngestError, got \(parsed.events.count) events", sourceLocation: sourceLocation)
            return nil
        } catch {
            return error
        }
    }

    static func instant(_ text: String) -> Instant {
        guard let i = Instant(rfc3339: text) else { fatalError("bad test instant \(text)") }
        return i
    }

    /// The queue id of a Postfix event id `postfix:<qid>:<rcpt>:<word>:<ms>`.
    static func queueId(_ event: Event) -> String {
        String(event.id.split(separator: ":", omittingEmptySubsequences: false)[1])
    }
}
