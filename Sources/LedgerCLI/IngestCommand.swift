import ArgumentParser
import DeliveryLedger
import Foundation
import LedgerIngest

struct IngestCommand: OutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Append MTA feedback files to the ledger (canonical JSON Lines, SparkPost webhook batches, bounce messages, Postfix logs).",
        discussion: """
            Every file is read and checked before anything is appended; then all the files' events are \
            appended in one atomic batch. A bad record makes the command fail naming the file, the line \
            (JSON Lines) or element index (SparkPost) and the field, and nothing is appended — unless \
            --skip-invalid is given: then the good records are appended and the bad ones are reported \
            (and written untouched to --reject-file). Events already recorded are counted as duplicates \
            (no-ops); engagement, SMS and inbound-relay events are counted as skipped.
            Use - as FILE to read standard input. A directory stands for the .eml files in it (bounce messages).
            Formats: jsonl and sparkpost are auto-detected, and so is a bounce message (dsn: RFC 3464 \
            delivery status notifications, plain-text bounces, auto-replies, ARF complaints), whose delivery \
            is read from the returned message's --delivery-header (default X-Delivery-ID), else --delivery. \
            A Postfix log (--format postfix) needs --delivery; its year-less syslog stamps are read as UTC \
            (or --utc-offset), \
            in --year or, by default, the year that puts no event in the future.
            """
    )

    @OptionGroup var database: DatabaseOptions
    @Argument(help: "Files to ingest.") var files: [String]
    @Option(help: "Input format: auto, jsonl or sparkpost.") var format: String = "auto"
    @Option(name: .customLong("delivery-key"),
            help: "SparkPost field holding the delivery id (default campaign_id, else transmission_id); e.g. rcpt_meta.delivery_id.")
    var deliveryKey: String?
    @Option(help: "The delivery id: required for Postfix logs, the fallback for bounce messages.") var delivery: String?
    @Option(name: .customLong("delivery-header"), help: "Bounce messages: the header of the returned message that carries the delivery id.")
    var deliveryHeader: String = "X-Delivery-ID"
    @Option(help: "Postfix logs: the year of the first year-less syslog line (default: inferred so no event is in the future).")
    var year: Int?
    @Option(name: .customLong("utc-offset"), help: "Postfix logs: the UTC offset of year-less syslog stamps, e.g. +09:00 or -05:00 (default +00:00).")
    var utcOffset: String?
    @Flag(name: .customLong("skip-invalid"), help: "Append the valid records and skip the invalid ones.") var skipInvalid = false
    @Option(name: .customLong("reject-file"), help: "With --skip-invalid: write the invalid records, untouched, to this file.")
    var rejectFile: String?

    func validate() throws {
        guard InputFormat(rawValue: format) != nil else {
            throw ValidationError("--format must be one of \(InputFormat.allCases.map(\.rawValue).joined(separator: ", ")), not '\(format)'")
        }
        guard !files.isEmpty else { throw ValidationError("name at least one FILE to ingest") }
        if format == "postfix" && (delivery ?? "").isEmpty { throw ValidationError("a Postfix log does not name its delivery: give --delivery ID") }
        if let year, !(1970...9999).contains(year) { throw ValidationError("--year must be 1970...9999") }
        if let utcOffset, Self.offsetSeconds(utcOffset) == nil { throw ValidationError("--utc-offset '\(utcOffset)' is not like +09:00 or -05:00") }
        if rejectFile != nil && !skipInvalid { throw ValidationError("--reject-file goes with --skip-invalid") }
        if let key = deliveryKey, key.isEmpty { throw ValidationError("--delivery-key needs a field name, e.g. rcpt_meta.delivery_id") }
        if let rejectFile {
            let target = URL(fileURLWithPath: rejectFile).standardizedFileURL.resolvingSymlinksInPath().path
            for file in files where file != "-" {
                if URL(fileURLWithPath: file).standardizedFileURL.resolvingSymlinksInPath().path == target {
                    throw ValidationError("--reject-file \(rejectFile) is also an input file: it would be overwritten")
                }
            }
        }
    }

    func execute(_ out: inout Output) throws {
        var options = IngestOptions(format: InputFormat(rawValue: format)!, deliveryKey: deliveryKey, skipInvalid: skipInvalid)
        options.delivery = delivery
        options.deliveryHeader = deliveryHeader
        options.year = year
        options.timeZoneOffsetSeconds = utcOffset.flatMap(Self.offsetSeconds) ?? 0
        options.qualifier = try RulesOption.qualifier(database.rules)
        var parsed: [(file: String, input: ParsedInput)] = []
        for file in try expandDirectories(files) {
            let bytes = try readInput(file)
            do {
                parsed.append((file, try FeedReader.read(bytes, file: file, options: options)))
            } catch {
                throw CLIError("\(error)\nNothing was appended.")
            }
        }
        // The rejects are written first: if the append then fails, no record is lost.
        if let rejectFile { try writeRejects(parsed, to: rejectFile) }
        let ledger = try database.open()
        var appendResult: AppendResult?
        while appendResult == nil {
            let events = parsed.flatMap(\.input.events)
            switch Result(catching: { () throws(LedgerError) -> AppendResult in try ledger.append(events) }) {
            case let .success(r):
                appendResult = r
            case let .failure(error):
                // With --skip-invalid an event whose id is already used with other content is rejected
                // like a bad record (written to the reject file first), and the batch is retried.
                guard skipInvalid, case let .conflict(index, _, _, _, _) = error, let (f, e) = split(index, parsed) else {
                    throw describe(error, parsed)
                }
                let message = describe(error, parsed).description.replacingOccurrences(of: " Nothing was appended.", with: "")
                var input = parsed[f].input
                let event = input.events.remove(at: e)
                if e < input.locations.count { input.locations.remove(at: e) }
                input.rejected.append(RejectedRecord(error: IngestError(file: parsed[f].file, message: message), raw: event.raw))
                parsed[f].input = input
                if let rejectFile { try writeRejects(parsed, to: rejectFile) }
            }
        }
        let result = appendResult!
        let rejected = parsed.flatMap(\.input.rejected)
        for r in rejected { FileHandle.standardError.write(Data("rejected: \(r.error)\n".utf8)) }

        var skippedTotal = 0
        for (file, input) in parsed {
            let skipped = input.skipped.values.reduce(0, +)
            skippedTotal += skipped
            var line = "\(file): \(input.format.rawValue), \(input.events.count) event\(input.events.count == 1 ? "" : "s")"
            if skipped > 0 {
                line += ", \(skipped) skipped (" + input.skipped.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + ")"
            }
            if !input.rejected.isEmpty { line += ", \(input.rejected.count) rejected" }
            out.line(line)
        }
        let duplicateIndexes = Set(result.duplicates)
        let appendedPositions = result.positions.enumerated().filter { !duplicateIndexes.contains($0.offset) }.map(\.element)
        var summary = "Appended \(result.appended) event\(result.appended == 1 ? "" : "s")"
        if let first = appendedPositions.min(), let last = appendedPositions.max() { summary += " (positions \(first)–\(last))" }
        summary += ", \(result.duplicates.count) duplicate\(result.duplicates.count == 1 ? "" : "s"), \(skippedTotal) skipped"
        if !rejected.isEmpty { summary += ", \(rejected.count) rejected" + (rejectFile.map { " (written to \($0))" } ?? "") }
        out.line(summary + ".")
    }

    /// Says which file and record a ledger error is about.
    private func describe(_ error: LedgerError, _ parsed: [(file: String, input: ParsedInput)]) -> CLIError {
        switch error {
        case let .conflict(index, id, stream, position, other):
            let whose = stream.recipient.isEmpty ? "delivery '\(stream.delivery)'" : "\(stream.recipient) in delivery '\(stream.delivery)'"
            let earlier = position.map { "the ledger already holds an event with this id at position \($0)" }
                ?? "\(locate(other ?? 0, in: parsed)) has the same id"
            return CLIError("\(locate(index, in: parsed)) (id '\(id)'): \(earlier) for \(whose) with different content."
                            + " Nothing was appended.")
        case let .invalidEvent(index, id, validation):
            return CLIError("\(locate(index, in: parsed)) (id '\(id)'): \(validation). Nothing was appended.")
        default:
            return CLIError("\(error). Nothing was appended.")
        }
    }

    /// `+HH:MM` / `-HH:MM` (at most 18 hours) in seconds east of UTC.
    static func offsetSeconds(_ text: String) -> Int? {
        let parts = text.dropFirst().split(separator: ":")
        guard let sign = text.first, sign == "+" || sign == "-", parts.count == 2, parts[0].count == 2, parts[1].count == 2,
              let h = Int(parts[0]), let m = Int(parts[1]), h <= 18, m < 60, h * 3600 + m * 60 <= 18 * 3600 else { return nil }
        return (sign == "-" ? -1 : 1) * (h * 3600 + m * 60)
    }

    /// Replaces each directory by the `.eml` files in it, sorted by name.
    private func expandDirectories(_ files: [String]) throws -> [String] {
        var result: [String] = []
        for file in files {
            var isDirectory: ObjCBool = false
            guard file != "-", FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory), isDirectory.boolValue else {
                result.append(file)
                continue
            }
            let names = try FileManager.default.contentsOfDirectory(atPath: file).filter { $0.lowercased().hasSuffix(".eml") }.sorted()
            guard !names.isEmpty else { throw CLIError("\(file): is a directory with no .eml file; name the files to ingest") }
            result += names.map { URL(fileURLWithPath: file).appendingPathComponent($0).path }
        }
        return result
    }

    private func readInput(_ file: String) throws -> [UInt8] {
        if file == "-" { return Array(FileHandle.standardInput.readDataToEndOfFile()) }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory) else { throw CLIError("\(file): no such file") }
        guard !isDirectory.boolValue else { throw CLIError("\(file): is a directory; name the files in it") }
        guard let data = FileManager.default.contents(atPath: file) else { throw CLIError("\(file): cannot be read") }
        return Array(data)
    }

    /// Which input and which of its events is event `index` of the combined batch.
    private func split(_ index: Int, _ parsed: [(file: String, input: ParsedInput)]) -> (Int, Int)? {
        var i = index
        for (f, p) in parsed.enumerated() {
            if i < p.input.events.count { return (f, i) }
            i -= p.input.events.count
        }
        return nil
    }

    /// `file: line N` / `file: element N` of event `index` of the combined batch.
    private func locate(_ index: Int, in parsed: [(file: String, input: ParsedInput)]) -> String {
        var i = index
        for (file, input) in parsed {
            if i < input.events.count {
                return "\(file): " + (i < input.locations.count ? input.locations[i] : "event \(i + 1)")
            }
            i -= input.events.count
        }
        return "event \(index + 1)"
    }

    /// Writes the rejected records untouched: SparkPost elements as one JSON array (re-ingestable
    /// once fixed), JSON Lines records one per line. Rejects from both formats cannot share one
    /// file: that is an error (ingest the formats separately).
    private func writeRejects(_ parsed: [(file: String, input: ParsedInput)], to path: String) throws {
        let groups = parsed.filter { !$0.input.rejected.isEmpty }
        if Set(groups.map(\.input.format)).count > 1 {
            throw CLIError("records were rejected from both JSON Lines and SparkPost files; one --reject-file cannot hold both formats: ingest them separately. Nothing was appended.")
        }
        var bytes: [UInt8] = []
        if !groups.isEmpty && groups.allSatisfy({ $0.input.format == .sparkpost }) {
            bytes += Array("[\n".utf8)
            let all = groups.flatMap(\.input.rejected)
            for (i, r) in all.enumerated() {
                bytes += r.raw
                bytes += Array((i + 1 < all.count ? ",\n" : "\n").utf8)
            }
            bytes += Array("]\n".utf8)
        } else {
            for r in groups.flatMap(\.input.rejected) { bytes += r.raw + [UInt8(ascii: "\n")] }
        }
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: path))
        } catch {
            throw CLIError("cannot write the reject file \(path): \(error.localizedDescription). Nothing was appended.")
        }
    }
}
