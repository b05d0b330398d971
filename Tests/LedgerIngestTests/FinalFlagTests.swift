import DeliveryLedger
import Testing
@testable import LedgerIngest

/// `final` in canonical JSON Lines says whether an outcome is final (domain.md §3): a bounce either
/// way, a delivered and a timeout always, a retry never. A relay, complaint, unsubscribe or autoReply is
/// not an outcome: `"final": true` (the default) is accepted and means nothing; `"final": false` is
/// refused with its line and field, never silently ignored.
@Suite("Canonical final flag")
struct FinalFlagTests {
    static func line(_ kind: String, final: Bool, extra: String = "") -> [UInt8] {
        utf8(#"{"id":"e-1","kind":"\#(kind)","delivery":"d1","recipient":"ann@example.com","occurredAt":"2026-11-02T09:00:00Z","final":\#(final)\#(extra)}"#)
    }

    @Test("final false on an event that is not an outcome is refused", arguments: ["relay", "complaint", "unsubscribe", "autoReply"])
    func notAnOutcome(kind: String) throws {
        let error = try #require(readError(Self.line(kind, final: false), file: "e.jsonl", options: IngestOptions(format: .jsonl)))
        #expect(error.file == "e.jsonl")
        #expect(error.line == 1)
        #expect(error.field == "final")
        let article = ["unsubscribe", "autoReply"].contains(kind) ? "an" : "a"
        #expect(error.message == "false does not apply to \(article) \(kind) event: final says whether an outcome (delivered, bounce, retry, timeout) is final, and \(article) \(kind) is not an outcome (domain.md §3); omit final or give true")
    }

    @Test("inBand and beforeRelay describe a failure: refused on events that are not failures, read on bounce, retry and timeout",
          arguments: ["relay", "delivered", "complaint", "unsubscribe", "autoReply"])
    func failureFieldsOnOtherKinds(kind: String) throws {
        for (member, meaning) in [("inBand", "whether a failure was refused during the SMTP session or reported later by a bounce message"),
                                  ("beforeRelay", "whether a failure happened before the message reached the MTA")] {
            for value in ["true", "false"] {
                let error = try #require(readError(Self.line(kind, final: true, extra: ",\"\(member)\":\(value)"), file: "e.jsonl",
                                                   options: IngestOptions(format: .jsonl)))
                #expect(error.line == 1 && error.field == member)
                let article = ["unsubscribe", "autoReply"].contains(kind) ? "an" : "a"
                #expect(error.message == "does not apply to \(article) \(kind) event: \(member) says \(meaning), and \(article) \(kind) is not a failure (bounce, retry, timeout; domain.md §3)")
            }
        }
        // null is absent, as for every member.
        #expect(try FeedReader.read(Self.line(kind, final: true, extra: #","inBand":null"#), file: "e.jsonl", options: IngestOptions(format: .jsonl)).events.count == 1)
    }

    @Test("inBand is read on the failures")
    func inBandOnFailures() throws {
        for (kind, extra) in [("bounce", #","smtpCode":550"#), ("timeout", "")] {
            let e = try #require(try FeedReader.read(Self.line(kind, final: true, extra: extra + #","inBand":false"#), file: "e.jsonl",
                                                     options: IngestOptions(format: .jsonl)).events.first)
            #expect(e.inBand == false)
        }
        let retry = try #require(try FeedReader.read(Self.line("retry", final: false, extra: #","smtpCode":450,"inBand":true"#), file: "e.jsonl",
                                                     options: IngestOptions(format: .jsonl)).events.first)
        #expect(retry.inBand == true)
    }

    @Test("final true, the default, is accepted on an event that is not an outcome", arguments: ["relay", "complaint", "unsubscribe", "autoReply"])
    func defaultOnNonOutcome(kind: String) throws {
        let read = try FeedReader.read(Self.line(kind, final: true), file: "e.jsonl", options: IngestOptions(format: .jsonl))
        #expect(read.events.count == 1)
        #expect(read.events.first?.kind.rawValue == kind)
    }

    @Test("final on an outcome is read as the outcome's finality")
    func outcomes() throws {
        func read(_ bytes: [UInt8]) throws -> Event {
            try #require(try FeedReader.read(bytes, file: "e.jsonl", options: IngestOptions(format: .jsonl)).events.first)
        }
        #expect(try read(Self.line("delivered", final: true)).final == true)
        #expect(try read(Self.line("bounce", final: false, extra: #","smtpCode":450"#)).final == false)
        #expect(try read(Self.line("bounce", final: true, extra: #","smtpCode":550"#)).final == true)
        #expect(try read(Self.line("retry", final: false, extra: #","smtpCode":450"#)).final == false)
        #expect(try read(Self.line("timeout", final: true)).final == true)
        #expect(readError(Self.line("delivered", final: false), options: IngestOptions(format: .jsonl))?.field == "final")
        #expect(readError(Self.line("retry", final: true, extra: #","smtpCode":450"#), options: IngestOptions(format: .jsonl))?.field == "final")
        #expect(readError(Self.line("timeout", final: false), options: IngestOptions(format: .jsonl))?.field == "final")
    }
}
