import DeliveryLedger
import Testing
@testable import LedgerIngest

/// Recipients as feeds spell them (``Address``): the spellings of one mailbox — balanced angle
/// brackets, the domain's trailing root dot, the domain's case — are one recipient; unbalanced
/// brackets and empty domain labels are refused, naming the record, the field and the problem.
@Suite("Address spellings at ingest")
struct AddressSpellingTests {
    static let spellings = ["ann@example.com", "<ann@example.com>", "ann@example.com.", "ann@EXAMPLE.COM."]

    @Test("Canonical JSONL: the spellings of one mailbox are one recipient")
    func canonicalSpellings() throws {
        let lines = Self.spellings.enumerated().map { i, r in
            #"{"id":"r-\#(i)","kind":"relay","delivery":"d1","recipient":"\#(r)","occurredAt":"2026-11-02T09:00:0\#(i)Z"}"#
        }
        let parsed = try FeedReader.read(utf8(lines.joined(separator: "\n")), file: "a.jsonl", options: IngestOptions(format: .jsonl))
        #expect(parsed.events.map(\.recipient) == Array(repeating: "ann@example.com", count: 4))
    }

    @Test("SparkPost: the spellings of one mailbox are one recipient")
    func sparkPostSpellings() throws {
        let elements = Self.spellings.enumerated().map { i, r in
            #"{"msys":{"message_event":{"type":"injection","event_id":"\#(i)","campaign_id":"c1","rcpt_to":"\#(r)","timestamp":"179361000\#(i)"}}}"#
        }
        let parsed = try FeedReader.read(utf8("[" + elements.joined(separator: ",") + "]"), file: "b.json", options: IngestOptions(format: .sparkpost))
        #expect(parsed.events.map(\.recipient) == Array(repeating: "ann@example.com", count: 4))
    }

    @Test("Canonical JSONL: a malformed recipient is refused with its line, field and problem", arguments: [
        ("<ann@example.com", "'<' without a closing '>'"),
        ("ann@example.com>", "'>' without an opening '<'"),
        ("ann@example.com..", "an empty label in the domain"),
    ])
    func canonicalRefuses(_ recipient: String, _ problem: String) throws {
        let text = #"{"id":"r-1","kind":"relay","delivery":"d1","recipient":"ann@example.com","occurredAt":"2026-11-02T09:00:00Z"}"# + "\n"
            + #"{"id":"r-2","kind":"relay","delivery":"d1","recipient":"\#(recipient)","occurredAt":"2026-11-02T09:00:00Z"}"#
        let error = try #require(readError(utf8(text), file: "a.jsonl", options: IngestOptions(format: .jsonl)))
        #expect(error.line == 2)
        #expect(error.field == "recipient")
        #expect(error.message.contains("is not an address: \(problem)"), "\(error)")
    }

    @Test("SparkPost: a malformed rcpt_to is refused with its element, field and problem")
    func sparkPostRefuses() throws {
        let text = #"[{"msys":{"message_event":{"type":"delivery","event_id":"1","campaign_id":"c1","rcpt_to":"ann@example.com>","timestamp":"1793610000"}}}]"#
        let error = try #require(readError(utf8(text), file: "b.json", options: IngestOptions(format: .sparkpost)))
        #expect(error.element == 0)
        #expect(error.field == "rcpt_to")
        #expect(error.message.contains("is not an address: '>' without an opening '<'"), "\(error)")
    }
}
