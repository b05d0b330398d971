import DeliveryLedger
import Foundation
import Testing
@testable import LedgerIngest

/// Writes an event as a canonical JSON line (a test-side writer, independent of the reader).
func canonicalLine(_ e: Event, includeId: Bool = true) -> String {
    var o: [String: Any] = ["kind": e.kind.rawValue, "occurredAt": e.occurredAt.rfc3339]
    if includeId { o["id"] = e.id }
    if !e.delivery.isEmpty { o["delivery"] = e.delivery }
    if !e.recipient.isEmpty { o["recipient"] = e.recipient }
    if e.kind.isMessageEvent { o["final"] = e.final }   // true on non-outcomes: accepted, means nothing
    if let v = e.inBand { o["inBand"] = v }
    if e.beforeRelay { o["beforeRelay"] = true }
    if let v = e.bounceClass { o["bounceClass"] = v }
    if let v = e.smtpCode { o["smtpCode"] = v }
    if let v = e.enhancedStatus { o["enhancedStatus"] = v }
    if let v = e.response { o["response"] = v }
    if let q = e.qualification { o["failureType"] = q.type.rawValue; o["failureReason"] = q.reason.rawValue }
    if let v = e.qualifier { o["qualifier"] = v }
    if let v = e.attempt { o["attempt"] = v }
    if let v = e.validitySeconds { o["validitySeconds"] = v }
    if let v = e.toDeliver { o["toDeliver"] = v }
    if let v = e.label { o["label"] = v }
    if let v = e.enabled { o["enabled"] = v }
    let data = try! JSONSerialization.data(withJSONObject: o, options: [.sortedKeys, .withoutEscapingSlashes])
    return String(decoding: data, as: UTF8.self)
}

@Suite("Canonical JSON Lines")
struct CanonicalLinesTests {
    static let t = at("2026-11-29T14:05:00.123Z")

    /// One event of every kind, with the fields its kind uses.
    static let everyKind: [Event] = [
        Event(id: "d-1", kind: .delivery, delivery: "D1", occurredAt: t, validitySeconds: 432_000, toDeliver: 1000, label: "Black Friday"),
        Event(id: "r-1", kind: .relay, delivery: "D1", recipient: "Ann@example.com", occurredAt: t),
        Event(id: "v-1", kind: .delivered, delivery: "D1", recipient: "ann@example.com", occurredAt: t, smtpCode: 250, response: "250 2.0.0 OK"),
        Event(id: "b-1", kind: .bounce, delivery: "D1", recipient: "bob@example.com", occurredAt: t, final: true, inBand: true,
              bounceClass: 10, smtpCode: 550, enhancedStatus: "5.1.1", response: "550 5.1.1 unknown",
              qualification: Qualification(.hard, .userUnknown), qualifier: "bounce-class-v1", attempt: 0),
        Event(id: "b-2", kind: .bounce, delivery: "D1", recipient: "bob@example.com", occurredAt: t, final: true, beforeRelay: true,
              qualification: Qualification(.hard, .addressInQuarantine), qualifier: "source"),
        Event(id: "y-1", kind: .retry, delivery: "D1", recipient: "cy@example.com", occurredAt: t, bounceClass: 22, smtpCode: 452,
              enhancedStatus: "4.2.2", qualification: Qualification(.soft, .mailboxFull), qualifier: "bounce-class-v1", attempt: 3),
        Event(id: "o-1", kind: .timeout, delivery: "D1", recipient: "cy@example.com", occurredAt: t,
              qualification: Qualification(.soft, .mailboxFull), qualifier: "ledger-sweep"),
        Event(id: "c-1", kind: .complaint, delivery: "D1", recipient: "dee@example.com", occurredAt: t),
        Event(id: "u-1", kind: .unsubscribe, delivery: "D1", recipient: "dee@example.com", occurredAt: t),
        Event(id: "a-1", kind: .autoReply, delivery: "D1", recipient: "eve@example.com", occurredAt: t, bounceClass: 60),
        Event(id: "f-1", kind: .efsFlag, delivery: "", occurredAt: t, enabled: true),
    ]

    @Test("every kind round-trips: write, read, same content; raw is the line", arguments: everyKind)
    func roundTrip(original: Event) throws {
        let line = canonicalLine(original)
        let parsed = try FeedReader.read(utf8(line + "\n"), file: "e.jsonl", options: IngestOptions())
        #expect(parsed.format == .jsonl)
        let e = try #require(parsed.events.first)
        #expect(e.hasSameContent(as: original), "\(e) vs \(original)")
        #expect(e.raw == utf8(line))
        #expect(e.source == .jsonl)
    }

    @Test("every EventKind is covered")
    func everyKindCovered() {
        #expect(Set(Self.everyKind.map(\.kind)) == Set(EventKind.allCases))
    }

    @Test("occurredAt: seconds below 100 000 000 000, milliseconds from there on")
    func epochRule() throws {
        let cases: [(String, Instant)] = [
            ("1454442600", at("2016-02-02T19:50:00Z")),
            (#""1454442600""#, at("2016-02-02T19:50:00Z")),
            ("1454442600123", at("2016-02-02T19:50:00.123Z")),
            (#""1454442600123""#, at("2016-02-02T19:50:00.123Z")),
            ("1454442600.5", at("2016-02-02T19:50:00.500Z")),
            ("1454442600.1239", at("2016-02-02T19:50:00.123Z")),  // truncated, not rounded
            ("0", at("1970-01-01T00:00:00Z")),
            ("99999999999", Instant(millisecondsSinceEpoch: 99_999_999_999_000)),  // seconds: year 5138
            ("100000000000", at("1973-03-03T09:46:40Z")),  // milliseconds: 10^8 s
            (#""2026-11-29T15:05:00.123+01:00""#, at("2026-11-29T14:05:00.123Z")),
        ]
        for (json, expected) in cases {
            let line = #"{"kind":"relay","delivery":"D1","recipient":"a@example.com","occurredAt":\#(json)}"#
            let e = try #require(try FeedReader.read(utf8(line), file: "e", options: IngestOptions()).events.first)
            #expect(e.occurredAt == expected, "occurredAt \(json)")
        }
    }

    @Test("derived ids: sha256 of the line's canonical form (sorted members, no spaces), the same for LF, CRLF and other formatting")
    func derivedIds() throws {
        let line = #"{"kind":"relay","delivery":"D1","recipient":"a@example.com","occurredAt":"2026-11-29T14:05:00Z"}"#
        // printf '%s' '{"delivery":"D1","kind":"relay","occurredAt":"2026-11-29T14:05:00Z","recipient":"a@example.com"}' | sha256sum
        // → 23530f4dfb0b267f6018a1d63c00e819…
        let expected = "sha256:23530f4dfb0b267f6018a1d63c00e819"
        let reformatted = #"{ "recipient" : "a@example.com", "occurredAt":"2026-11-29T14:05:00Z", "kind": "relay", "delivery":"D1" }"#
        #expect(try FeedReader.read(utf8(reformatted), file: "e", options: IngestOptions()).events.first?.id == expected)
        let lf = try FeedReader.read(utf8(line + "\n" + line + "\n"), file: "e", options: IngestOptions())
        let crlf = try FeedReader.read(utf8(line + "\r\n"), file: "e", options: IngestOptions())
        #expect(lf.events.map(\.id) == [expected, expected])
        #expect(crlf.events.map(\.id) == [expected])
        let other = try FeedReader.read(utf8(line.replacingOccurrences(of: "D1", with: "D2")), file: "e", options: IngestOptions())
        #expect(other.events.first?.id != expected)
        #expect(other.events.first?.id.count == expected.count)
    }

    @Test("qualification derived from the bounce class, or the codes, or given by the source")
    func qualification() throws {
        func read(_ members: String, kind: String = "bounce") throws -> Event {
            let line = #"{"kind":"\#(kind)","delivery":"D1","recipient":"a@example.com","occurredAt":1\#(members)}"#
            return try #require(try FeedReader.read(utf8(line), file: "e", options: IngestOptions()).events.first)
        }
        let fromClass = try read(#","bounceClass":10,"smtpCode":550"#)
        #expect(fromClass.qualification == Qualification(.hard, .userUnknown))
        #expect(fromClass.qualifier == BounceClassTable.version)
        let retry = try read(#","bounceClass":10"#, kind: "retry")
        #expect(retry.qualification == Qualification(.soft, .userUnknown))
        #expect(!retry.final)
        let fourXX = try read(#","smtpCode":451"#)
        #expect(fourXX.qualification == Qualification(.soft, .unreachable))
        let classFourEnhanced = try read(#","smtpCode":550,"enhancedStatus":"4.2.2""#)
        #expect(classFourEnhanced.qualification == Qualification(.soft, .mailboxFull))  // the text rules: X.2.2
        let bare = try read("")
        #expect(bare.qualification == Qualification(.notDefined, .notDefined))
        #expect(bare.final)  // default
        let timeout = try read(#","bounceClass":22"#, kind: "timeout")
        #expect(timeout.qualification == Qualification(.soft, .mailboxFull) && timeout.final)
        let given = try read(#","bounceClass":10,"failureType":"soft","failureReason":"refused""#)
        #expect(given.qualification == Qualification(.soft, .refused))
        #expect(given.qualifier == "source")
        let relay = try read("", kind: "relay")
        #expect(relay.qualification == nil && relay.qualifier == nil)
    }

    @Test("members must fit the kind; final must not contradict retry or timeout")
    func misplacedMembers() throws {
        let cases: [(String, String)] = [
            (#"{"kind":"relay","delivery":"D1","recipient":"a@example.com","occurredAt":1,"label":"x"}"#, "label"),
            (#"{"kind":"bounce","delivery":"D1","recipient":"a@example.com","occurredAt":1,"enabled":true}"#, "enabled"),
            (#"{"kind":"delivery","delivery":"D1","occurredAt":1,"smtpCode":550}"#, "smtpCode"),
            (#"{"kind":"delivery","delivery":"D1","occurredAt":1,"recipient":"a@example.com"}"#, "recipient"),
            (#"{"kind":"efsFlag","occurredAt":1,"enabled":true,"delivery":"D1"}"#, "delivery"),
            (#"{"kind":"efsFlag","occurredAt":1,"enabled":true,"final":true}"#, "final"),
            (#"{"kind":"retry","delivery":"D1","recipient":"a@example.com","occurredAt":1,"final":true}"#, "final"),
            (#"{"kind":"timeout","delivery":"D1","recipient":"a@example.com","occurredAt":1,"final":false}"#, "final"),
        ]
        for (line, field) in cases {
            let error = try #require(readError(utf8(line), file: "e.jsonl"))
            #expect(error.line == 1 && error.field == field, "\(line) → \(error)")
        }
        // Consistent values are fine.
        let retry = #"{"kind":"retry","delivery":"D1","recipient":"a@example.com","occurredAt":1,"final":false}"#
        #expect(try FeedReader.read(utf8(retry), file: "e", options: IngestOptions()).events.first?.final == false)
    }

    @Test("blank lines are ignored; line numbers count them; null is absent")
    func blankLinesAndNull() throws {
        let good = #"{"kind":"relay","delivery":"D1","recipient":"a@example.com","occurredAt":1,"inBand":null,"label":null}"#
        let bad = #"{"kind":"relay","delivery":"D1","occurredAt":1}"#
        let text = "\n  \n" + good + "\r\n\t\n" + bad + "\n"
        let error = try #require(readError(utf8(text), file: "e.jsonl"))
        #expect(error.line == 5 && error.field == "recipient")
        let ok = try FeedReader.read(utf8("\n  \n" + good + "\r\n\t\n"), file: "e.jsonl", options: IngestOptions())
        #expect(ok.events.count == 1 && ok.events[0].inBand == nil && ok.events[0].label == nil)
        #expect(ok.skipped.isEmpty && ok.rejected.isEmpty)
    }
}

@Suite("Format detection")
struct FormatDetectionTests {
    func detect(_ text: String) throws -> InputFormat {
        try FeedReader.read(utf8(text), file: "in", options: IngestOptions(skipInvalid: true)).format
    }

    @Test("'[' is SparkPost; '{' with kind is JSON Lines; results and msys objects are SparkPost")
    func detection() throws {
        #expect(try detect(#"[{"msys":{}}]"#) == .sparkpost)
        #expect(try detect("\u{FEFF}\n  " + #"{"kind":"relay","delivery":"D","recipient":"a@b.example","occurredAt":1}"#) == .jsonl)
        #expect(try detect(#"{"id":"x","kind":"relay","delivery":"D","recipient":"a@b.example","occurredAt":1}"#) == .jsonl)
        #expect(try detect("{\n  \"results\": [\n  ]\n}\n") == .sparkpost)
        #expect(try detect(#"{"msys":{"message_event":{"type":"open"}}}"#) == .sparkpost)
        // A canonical line that forgot its kind is still read as JSON Lines, so the error says so.
        let error = try #require(readError(utf8(#"{"delivery":"D","recipient":"a@b.example","occurredAt":1}"#), file: "in"))
        #expect(error.line == 1 && error.field == "kind")
    }

    @Test("empty input: no events, no error")
    func empty() throws {
        for text in ["", "   \n\n", "\u{FEFF}"] {
            let parsed = try FeedReader.read(utf8(text), file: "in", options: IngestOptions())
            #expect(parsed.events.isEmpty && parsed.skipped.isEmpty && parsed.rejected.isEmpty)
        }
    }

    @Test("anything else: cannot tell the format")
    func unknown() throws {
        let error = try #require(readError(utf8("Nov 29 14:05:00 mx postfix/smtp[1]: status=sent"), file: "mail.log"))
        #expect(error.description == "mail.log: cannot tell the format; use --format (it looks like a Postfix log: --format postfix --delivery ID)")
        // A compressed or UTF-16 input is named as such (found by a tester: a .json.gz given as it is).
        let gzip = try #require(readError([0x1F, 0x8B, 0x08, 0x00, 0x00], file: "feed.json.gz"))
        #expect(gzip.description.hasPrefix("feed.json.gz: cannot tell the format; use --format (the input is gzip-compressed"), "\(gzip)")
        let utf16 = try #require(readError([0xFF, 0xFE, 0x5B, 0x00, 0x5D, 0x00], file: "feed.json"))
        #expect(utf16.description.contains("UTF-16"), "\(utf16)")
        #expect(try #require(readError(utf8("hello"), file: "x")).description == "x: cannot tell the format; use --format")
        // With an explicit format the same bytes are read as that format.
        let asLines = try #require(readError(utf8("hello"), file: "x", options: IngestOptions(format: .jsonl)))
        #expect(asLines.line == 1)
    }

    @Test("InputFormat tokens")
    func tokens() {
        #expect(InputFormat.allCases.map(\.rawValue) == ["auto", "jsonl", "sparkpost", "dsn", "postfix", "ses", "sendgrid", "mailgun", "postmark", "brevo", "mailjet", "postal"])
    }
}

/// The canonical format's published examples (Schemas/examples/canonical-event, written against
/// Schemas/canonical-event.schema.json): every `valid-*` reads, every `invalid-*` is refused.
@Suite("Canonical schema examples")
struct CanonicalSchemaExamplesTests {
    static let folder = Corpus.packageRoot.appendingPathComponent("Schemas/examples/canonical-event")
    static var files: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { $0.hasSuffix(".json") }.sorted()
    }

    /// The example object as one JSON line (the examples are pretty-printed).
    static func line(_ name: String) throws -> [UInt8] {
        let data = try Data(contentsOf: folder.appendingPathComponent(name))
        let object = try JSONSerialization.jsonObject(with: data)
        return Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
    }

    @Test("valid examples read, invalid ones are refused", .enabled(if: !files.isEmpty, "Schemas/examples/canonical-event is absent"),
          arguments: files)
    func example(name: String) throws {
        let bytes = try Self.line(name)
        if name.hasPrefix("valid-") {
            let parsed = try FeedReader.read(bytes, file: name, options: IngestOptions(format: .jsonl))
            #expect(parsed.events.count == 1)
        } else {
            let error = readError(bytes, file: name, options: IngestOptions(format: .jsonl))
            #expect(error?.line == 1)
        }
    }
}
