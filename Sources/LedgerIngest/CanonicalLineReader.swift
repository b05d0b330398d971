import DeliveryLedger
import Foundation

/// Reads canonical JSON Lines (internal; the rules are documented on ``FeedReader``).
enum CanonicalLineReader {
    /// The longest line read, in bytes without the terminator: 1 MiB. Longer lines are refused
    /// before any decoding, so a runaway 10 MB line costs one scan for the newline.
    static let maximumLineLength = 1 << 20

    /// Every field of the canonical event object; any other name is an error (strict contract).
    static let knownFields: Set<String> = [
        "id", "kind", "delivery", "recipient", "occurredAt", "final", "inBand", "beforeRelay",
        "bounceClass", "smtpCode", "enhancedStatus", "response", "failureType", "failureReason",
        "qualifier", "attempt", "validitySeconds", "toDeliver", "label", "enabled",
    ]

    /// Members that only some kinds may carry (Schemas/canonical-event.schema.json): message kinds
    /// take no delivery-declaration or efsFlag members; a `delivery` declaration takes no recipient,
    /// outcome or efsFlag members; an `efsFlag` takes nothing but `id`, `kind`, `occurredAt`, `enabled`.
    /// `final` says whether an **outcome** is final (domain.md §3: `delivered`, a final `bounce` and
    /// `timeout` are; a `retry` and a non-final `bounce` are not). The kinds that are not outcomes —
    /// `relay`, `complaint`, `unsubscribe`, `autoReply` — accept `"final": true`, the default, which
    /// means nothing for them (writers that put `final` on every message event, as this project's own
    /// tests once did, must not lose events for it), and refuse `"final": false`, which would claim
    /// something the ledger cannot record (``notApplicable(_:kind:)`` says why).
    static func forbiddenFields(for kind: EventKind) -> Set<String> {
        switch kind {
        case .delivery: forbiddenInDeclarations
        case .efsFlag: forbiddenInEFSFlags
        case .bounce, .retry, .timeout: forbiddenInMessageEvents
        case .relay, .complaint, .unsubscribe, .autoReply, .delivered: forbiddenInOtherMessageEvents
        }
    }

    /// Why `field` does not apply to a `kind` event, for people.
    static func notApplicable(_ field: String, kind: EventKind) -> String {
        let article = kind.rawValue.first.map { "aeiou".contains($0) } == true ? "an" : "a"
        if failureOnlyFields.contains(field), forbiddenInOtherMessageEvents.contains(field) {
            let meaning = field == "inBand" ? "whether a failure was refused during the SMTP session or reported later by a bounce message"
                : "whether a failure happened before the message reached the MTA"
            return "does not apply to \(article) \(kind.rawValue) event: \(field) says \(meaning), and \(article) \(kind.rawValue) is not a failure (bounce, retry, timeout; domain.md §3)"
        }
        guard field == "final", isNonOutcome(kind) else { return "does not apply to \(article) \(kind.rawValue) event" }
        return "false does not apply to \(article) \(kind.rawValue) event: final says whether an outcome (delivered, bounce, retry, timeout) is final, and \(article) \(kind.rawValue) is not an outcome (domain.md §3); omit final or give true"
    }

    /// A message event that is not an outcome: `final` means nothing for it.
    static func isNonOutcome(_ kind: EventKind) -> Bool { [.relay, .complaint, .unsubscribe, .autoReply].contains(kind) }

    // The sets of `forbiddenFields(for:)`, built once (a line is checked against one of them).
    private static let declarationFields: Set<String> = ["validitySeconds", "toDeliver", "label"]
    private static let outcomeFields: Set<String> = [
        "final", "inBand", "beforeRelay", "bounceClass", "smtpCode", "enhancedStatus", "response",
        "failureType", "failureReason", "qualifier", "attempt",
    ]
    private static let forbiddenInDeclarations = outcomeFields.union(["recipient", "enabled"])
    private static let forbiddenInEFSFlags = knownFields.subtracting(["id", "kind", "occurredAt", "enabled"])
    private static let forbiddenInMessageEvents = declarationFields.union(["enabled"])
    /// Fields that describe a failure (how and where it was reported): refused on events that are not
    /// failures (relay, delivered, complaint, unsubscribe, autoReply).
    private static let failureOnlyFields: Set<String> = ["inBand", "beforeRelay"]
    private static let forbiddenInOtherMessageEvents = forbiddenInMessageEvents.union(failureOnlyFields)

    static func read(_ bytes: [UInt8], from start: Int, file: String, skipInvalid: Bool) throws(IngestError) -> ParsedInput {
        var number = 0
        return try read(bytes, from: start, to: bytes.count, lineNumber: &number, baseOffset: 0, file: file, skipInvalid: skipInvalid)
    }

    /// Reads the lines of `bytes[start..<end]` (the last one may lack its terminator).
    ///
    /// - Parameters:
    ///   - lineNumber: the number of lines before `start` in the input; on return, the number of the
    ///     last line read.
    ///   - baseOffset: the input offset of `bytes[0]` (for a chunk of a stream), added to error offsets.
    static func read(_ bytes: [UInt8], from start: Int, to end: Int, lineNumber: inout Int, baseOffset: Int,
                     file: String, skipInvalid: Bool) throws(IngestError) -> ParsedInput {
        var none: [ParsedInput] = []
        return try ParsedInput(joining: readParts(bytes, from: start, to: end, lineNumber: &lineNumber, baseOffset: baseOffset, file: file,
                                                  skipInvalid: skipInvalid, releasing: &none), format: .jsonl)
    }

    /// Reads the lines as ``read(_:from:to:lineNumber:baseOffset:file:skipInvalid:)``, in one part per
    /// run of consecutive lines (``Parallel/mapRuns(_:releasing:_:)``), in order; a part that fails
    /// holds its first line's error.
    /// `retired`: parts the caller is done with, released by the workers (``Parallel/mapRuns(_:releasing:_:)``).
    static func readParts(_ bytes: [UInt8], from start: Int, to end: Int, lineNumber: inout Int, baseOffset: Int,
                          file: String, skipInvalid: Bool, releasing retired: inout [ParsedInput]) -> [Result<ParsedInput, IngestError>] {
        // Find the non-blank lines first (one memchr scan), then decode them on every core: lines are
        // independent. Results are assembled in line order, so the first error is the first line's.
        var lines: [Range<Int>] = []
        var numbers: [Int] = []
        var lineStart = start
        var number = lineNumber
        defer { lineNumber = number }
        while lineStart < end {
            number += 1
            let newline = min(indexOfNewline(in: bytes, from: lineStart) ?? end, end)
            var lineEnd = newline
            if lineEnd > lineStart, bytes[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
            let line = lineStart..<lineEnd
            lineStart = newline + 1
            if bytes[line].allSatisfy(JSONScanner.isWhitespace) { continue }
            lines.append(line)
            numbers.append(number)
        }
        // A line longer than 1 MiB is an error even with skipInvalid, wherever it falls: the stream
        // cannot hold one when it crosses a chunk, so the whole read does not keep one either (a
        // breaker saw the same line rejected, or fatal, depending on where the file was split).
        var tooLong: IngestError?
        if let k = lines.firstIndex(where: { $0.count > maximumLineLength }) {
            tooLong = IngestError(file: file, line: numbers[k], offset: baseOffset + lines[k].lowerBound,
                                  message: "longer than 1 MiB (\(lines[k].count) bytes); a canonical event line is at most \(maximumLineLength) bytes (is this JSON Lines?)")
            lines.removeSubrange(k...)
            numbers.removeSubrange(k...)
        }
        let lineNumbers = numbers, found = lines
        var parts = Parallel.mapRuns(found, releasing: &retired) { run in
            let scratch = JSONSyntax.Scratch()
            return ParsedInput.part(format: .jsonl, records: run, skipInvalid: skipInvalid, raw: { Array(bytes[found[$0]]) }) {
                (i, part) throws(IngestError) in
                let range = found[i]
                part.events.append(try event(line: bytes[range], number: lineNumbers[i], offset: baseOffset + range.lowerBound, file: file,
                                             scratch: scratch))
                part.locations.append("line \(lineNumbers[i])")
            }
        }
        if let tooLong { parts.append(.failure(tooLong)) }
        return parts
    }

    static func indexOfNewline(in bytes: [UInt8], from start: Int) -> Int? {
        bytes.withUnsafeBufferPointer { buffer -> Int? in
            guard let base = buffer.baseAddress, start < buffer.count else { return nil }
            guard let hit = memchr(base + start, 0x0A, buffer.count - start) else { return nil }
            return base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
        }
    }

    /// One line (without its terminator) → one validated event.
    ///
    /// - Parameters:
    ///   - offset: the byte offset of the line's first byte in the input (errors name input offsets).
    ///   - scratch: the validation's working arrays, reused from the line before when a run of lines
    ///     is decoded on one thread.
    static func event(line: ArraySlice<UInt8>, number: Int, offset: Int, file: String,
                      scratch: JSONSyntax.Scratch? = nil) throws(IngestError) -> Event {
        func fail(_ field: String?, _ message: String) -> IngestError {
            IngestError(file: file, line: number, field: field, message: message)
        }
        guard line.count <= maximumLineLength else {
            throw fail(nil, "longer than 1 MiB (\(line.count) bytes); a canonical event line is at most \(maximumLineLength) bytes")
        }
        // Validated whole (repeated names refused); members are converted as they are read.
        let doc: JSONDocument
        do { doc = try JSONDocument(validating: line, options: .records, scratch: scratch) } catch {
            throw IngestError(file: file, line: number, offset: offset + error.offset, message: error.message)
        }
        defer { doc.recycle(into: scratch) }
        guard let object = doc.members(doc.root) else {
            throw fail(nil, "expected a JSON object (one canonical event), got \(doc.value(doc.root).typeName)")
        }
        // The first offending name in sorted order is reported, so the error does not depend on the
        // members' order.
        var unknown: String? = nil
        for member in object {
            let name = doc.name(member)
            if !knownFields.contains(name), unknown.map({ name < $0 }) ?? true { unknown = name }
        }
        if let unknown {
            throw fail(unknown, "unknown field (the canonical event format is strict; known fields: \(knownFields.sorted().joined(separator: ", ")))")
        }
        let f = FieldAccess(document: doc, members: object, fail: fail, numbersAsStrings: false)

        guard let kindText = try f.string("kind") else { throw fail("kind", "missing: every event needs a kind") }
        guard let kind = EventKind(rawValue: kindText) else {
            throw fail("kind", "unknown kind \(JSONValue.quoted(kindText)); expected one of \(EventKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let forbidden = forbiddenFields(for: kind)
        var misplaced: String? = nil
        for member in object where !doc.isNull(member.value) {
            let name = doc.name(member)
            if forbidden.contains(name), misplaced.map({ name < $0 }) ?? true { misplaced = name }
        }
        if let misplaced {
            throw fail(misplaced, notApplicable(misplaced, kind: kind))
        }
        guard let occurredAt = try f.instant("occurredAt") else {
            throw fail("occurredAt", "missing: every event needs occurredAt (RFC 3339, or epoch seconds / milliseconds)")
        }
        let id = try f.string("id") ?? IngestRules.contentHashId(doc.value(doc.root).canonicalBytes[...])
        let delivery = try f.string("delivery") ?? ""
        var recipient = ""
        if let given = try f.string("recipient"), !given.isEmpty {
            do { recipient = try Address.parse(given) } catch {
                throw fail("recipient", "\(JSONValue.quoted(given)) is not an address: \(error)")
            }
        }

        var event = Event(id: id, kind: kind, delivery: delivery, recipient: recipient, occurredAt: occurredAt,
                          source: .jsonl, raw: Array(line))
        let final = try f.bool("final")
        if kind == .retry, final == true { throw fail("final", "a retry is never final (the MTA keeps trying)") }
        if kind == .timeout, final == false { throw fail("final", "a timeout is always final (domain.md §4)") }
        if Self.isNonOutcome(kind), final == false { throw fail("final", Self.notApplicable("final", kind: kind)) }
        event.final = kind == .retry ? false : (final ?? true)
        event.inBand = try f.bool("inBand")
        event.beforeRelay = try f.bool("beforeRelay") ?? false
        event.bounceClass = try f.int("bounceClass")
        event.smtpCode = try f.int("smtpCode")
        event.enhancedStatus = try f.string("enhancedStatus")
        event.response = try f.string("response")
        event.attempt = try f.int("attempt")
        event.validitySeconds = try f.int64("validitySeconds")
        event.toDeliver = try f.int64("toDeliver")
        event.label = try f.string("label")
        event.enabled = try f.bool("enabled")

        let failureType = try f.string("failureType")
        let failureReason = try f.string("failureReason")
        let qualifier = try f.string("qualifier")
        switch (failureType, failureReason) {
        case let (typeText?, reasonText?):
            guard let type = FailureType(rawValue: typeText) else {
                throw fail("failureType", "unknown failure type \(JSONValue.quoted(typeText)); expected one of \(FailureType.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard let reason = FailureReason(rawValue: reasonText) else {
                throw fail("failureReason", "unknown failure reason \(JSONValue.quoted(reasonText)); expected one of \(FailureReason.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if kind == .retry, type == .hard {
                throw fail("failureType", "a retry is a temporary failure and is never hard (domain.md §5.1)")
            }
            event.qualification = Qualification(type, reason)
            event.qualifier = qualifier ?? "source"
        case (_?, nil):
            throw fail("failureReason", "missing: failureType and failureReason go together")
        case (nil, _?):
            throw fail("failureType", "missing: failureType and failureReason go together")
        case (nil, nil):
            if qualifier != nil {
                throw fail("qualifier", "names who produced failureType and failureReason, which are missing")
            }
            if kind == .bounce || kind == .retry || kind == .timeout {
                if let c = event.bounceClass, let effect = BounceClassTable.effect(of: c) {
                    switch effect {
                    case .failure: break
                    case .autoReply:
                        throw fail("bounceClass", "class \(c) is an auto-reply, not a failure: write kind \"autoReply\" (domain.md §5.2)")
                    case .unsubscribe:
                        throw fail("bounceClass", "class \(c) is an unsubscribe request, not a failure: write kind \"unsubscribe\" (domain.md §5.2)")
                    case .subscribe:
                        throw fail("bounceClass", "class \(c) is a subscribe request, which the ledger does not track (domain.md §5.2)")
                    }
                }
                (event.qualification, event.qualifier) = IngestRules.derivedQualification(
                    kind: kind, final: event.final, bounceClass: event.bounceClass, smtpCode: event.smtpCode,
                    enhancedStatus: event.enhancedStatus, text: event.response, recipient: event.recipient, raw: event.raw, source: event.source)
            }
        }

        do { try event.validate() } catch { throw fail(error.field, error.message) }
        return event
    }
}
