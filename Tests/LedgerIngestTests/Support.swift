import DeliveryLedger
import Foundation
import Testing
@testable import LedgerIngest

/// The shared corpus: `../shared/corpus` relative to the package root (found from this file's path).
enum Corpus {
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // LedgerIngestTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // package root

    static let folder: URL = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/corpus")

    struct Missing: Error, CustomStringConvertible {
        var path: String
        var description: String { "the corpus folder is missing: expected \(path) (../shared/corpus relative to the package root)" }
    }

    /// The bytes of a corpus file, e.g. `sparkpost/anymail/bounce_event.json`.
    static func bytes(_ relativePath: String) throws -> [UInt8] {
        guard FileManager.default.fileExists(atPath: folder.path) else { throw Missing(path: folder.path) }
        return Array(try Data(contentsOf: folder.appendingPathComponent(relativePath)))
    }

    /// Reads a corpus file with the given options.
    static func read(_ relativePath: String, options: IngestOptions = IngestOptions()) throws -> ParsedInput {
        let data = try bytes(relativePath)
        return try FeedReader.read(data, file: (relativePath as NSString).lastPathComponent, options: options)
    }
}

/// UTF-8 bytes of a string.
func utf8(_ s: String) -> [UInt8] { Array(s.utf8) }

/// An instant from RFC 3339 text (test shorthand; the text must be valid).
func at(_ text: String) -> Instant {
    guard let i = Instant(rfc3339: text) else { fatalError("bad test instant \(text)") }
    return i
}

/// Reads and returns the error, or records an issue when the read succeeds.
func readError(_ bytes: [UInt8], file: String = "input", options: IngestOptions = IngestOptions(),
               sourceLocation: SourceLocation = #_sourceLocation) -> IngestError? {
    do {
        let parsed = try FeedReader.read(bytes, file: file, options: options)
        Issue.record("expected an IngestError, got \(parsed.events.count) events", sourceLocation: sourceLocation)
        return nil
    } catch {
        return error
    }
}

extension Array where Element == UInt8 {
    /// Whether `needle` occurs in these bytes.
    func contains(bytes needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= count else { return needle.isEmpty }
        let first = needle[0]
        var i = 0
        while i + needle.count <= count {
            if self[i] == first, self[i..<(i + needle.count)].elementsEqual(needle) { return true }
            i += 1
        }
        return false
    }
}
