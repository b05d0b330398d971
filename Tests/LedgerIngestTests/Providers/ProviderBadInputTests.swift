import DeliveryLedger
import Foundation
import Testing
@testable import LedgerIngest

/// Bad provider records are named — file, element, field, byte — and never half-applied.
@Suite("Provider webhooks: bad input")
struct ProviderBadInputTests {
    static let good = #"{"email":"ann@example.com","timestamp":1461095250,"event":"delivered","sg_event_id":"e1","sg_message_id":"m.f"}"#
    static let bad = #"{"email":"not an address","timestamp":1461095250,"event":"delivered","sg_event_id":"e2","sg_message_id":"m.f"}"#

    @Test("a bad element of a SendGrid batch names its index and field; --skip-invalid keeps the good ones and the bad bytes")
    func sendGridBadElement() throws {
        let batch = Array("[\(Self.good),\(Self.bad)]".utf8)
        let error = try #require(readError(batch, file: "batch.json"))
        #expect(error.element == 1 && error.field == "email" && error.file == "batch.json")
        let parsed = try FeedReader.read(batch, file: "batch.json", options: IngestOptions(skipInvalid: true))
        #expect(parsed.events.count == 1 && parsed.rejected.count == 1)
        #expect(parsed.rejected.first?.raw == Array(Self.bad.utf8))
    }

    @Test("malformed JSON in a provider body is located by byte; a repeated name is refused")
    func malformed() throws {
        let cut = Array(#"[{"email":"ann@example.com","event":"delivered","sg_event_id":"e1",}]"#.utf8)
        let e1 = try #require(readError(cut, options: IngestOptions(format: .sendgrid)))
        #expect(e1.offset != nil && e1.element == 0)
        let repeated = Array(#"{"RecordType":"Delivery","Recipient":"a@example.com","Recipient":"b@example.com","DeliveredAt":"2026-11-02T09:00:00Z","MessageID":"m"}"#.utf8)
        let e2 = try #require(readError(repeated))
        #expect(e2.message.contains("duplicate"))
    }

    @Test("an SES notification inside an SNS envelope: errors name the field inside Message")
    func sesNestedField() throws {
        let message = #"{\"notificationType\":\"Delivery\",\"mail\":{\"messageId\":\"m\"},\"delivery\":{\"timestamp\":\"not a time\",\"recipients\":[\"ann@example.com\"]}}"#
        let body = #"{"Type":"Notification","MessageId":"x","TopicArn":"arn:aws:sns:us-east-1:1:t","Message":"\#(message)","Timestamp":"2026-11-02T09:00:00.000Z"}"#
        let error = try #require(readError(Array(body.utf8)))
        #expect(error.field == "Message.delivery.timestamp")
    }

    @Test("an unknown event name is skipped and counted, never an error; a body that is no provider's is refused with --format")
    func unknownAndWrongFormat() throws {
        let parsed = try FeedReader.read(Array(#"[{"email":"a@example.com","timestamp":1,"event":"brand_new","sg_event_id":"z"}]"#.utf8),
                                         file: "x", options: IngestOptions())
        #expect(parsed.skipped == ["sendgrid brand_new": 1] && parsed.events.isEmpty)
        let error = try #require(readError(Array(#"{"hello":"world"}"#.utf8), options: IngestOptions(format: .postmark)))
        #expect(error.field == "RecordType")
        let notJSON = try #require(readError(Array("hello world".utf8), options: IngestOptions(format: .brevo)))
        #expect(notJSON.offset == 0)
    }

    @Test("every provider payload, cut at every 13th byte or with a byte flipped, reads or fails cleanly (auto-detected and as its provider), whole and in 13-byte chunks alike")
    func cutAndFlipped() throws {
        let folder = Corpus.folder.appendingPathComponent("other")
        var inputs: [(bytes: [UInt8], format: InputFormat)] = []
        for dir in try FileManager.default.contentsOfDirectory(atPath: folder.path) where dir.hasPrefix("anymail-") || dir == "amazon-ses-docs" {
            let name = dir == "amazon-ses-docs" ? "ses" : dir.dropFirst("anymail-".count) == "amazon-ses" ? "ses" : String(dir.dropFirst("anymail-".count))
            let own = try #require(InputFormat(rawValue: name))
            for f in try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent(dir).path)
            where f.hasSuffix(".json") && f != "expectations.anymail.json" {
                let bytes = try Corpus.bytes("other/\(dir)/\(f)")
                for cut in stride(from: 0, to: bytes.count, by: 13) { inputs.append((Array(bytes[..<cut]), own)) }
                for i in stride(from: 0, to: bytes.count, by: 23) {
                    var b = bytes
                    b[i] ^= 0x20
                    inputs.append((b, own))
                }
            }
        }
        var outcomes = 0
        for (input, own) in inputs {
            for format in [InputFormat.auto, own] {
                let options = IngestOptions(format: format, skipInvalid: format == .auto)
                let whole = Result { () throws(IngestError) in try FeedReader.read(input, file: "f", options: options) }
                var offset = 0
                var stream = FeedStream(file: "f", options: options, chunkSize: 13) { (n: Int) throws(IngestError) -> [UInt8] in
                    let end = min(input.count, offset + n)
                    defer { offset = end }
                    return Array(input[offset..<end])
                }
                let streamed = Result { () throws(IngestError) -> [String] in
                    var ids: [String] = []
                    while let batch = try stream.next() { ids += batch.events.map(\.id) }
                    return ids
                }
                switch (whole, streamed) {
                case let (.success(a), .success(b)): #expect(a.events.map(\.id) == b); outcomes += 1
                case let (.failure(a), .failure(b)): #expect(a.element == b.element && a.field == b.field); outcomes += 1
                default: Issue.record("whole and chunked reads disagree on \(input.count) bytes as \(format)")
                }
            }
        }
        #expect(outcomes == inputs.count * 2)
    }

    @Test("a SendGrid batch streams element by element: the same events as a whole read, several chunks, element indexes counted across them")
    func sendGridStreams() throws {
        var elements: [String] = []
        for i in 0..<20_000 {  // about 3 MB: more than the first look (1 MiB) and a batch (16,384 records)
            elements.append(#"{"email":"r\#(i)@example.com","timestamp":1461095250,"event":"\#(i % 3 == 0 ? "open" : "delivered")","sg_event_id":"e\#(i)","sg_message_id":"m.f","category":"big"}"#)
        }
        elements[15_000] =  // was an open (15,000 is a multiple of 3)
            #"{"email":"bad","timestamp":1461095250,"event":"delivered","sg_event_id":"x","sg_message_id":"m.f"}"#
        let bytes = Array(("[" + elements.joined(separator: ",\n") + "]").utf8)
        let options = IngestOptions(skipInvalid: true)
        let whole = try FeedReader.read(bytes, file: "big.json", options: options)
        var offset = 0
        var stream = FeedStream(file: "big.json", options: options, chunkSize: 4_096) { (n: Int) throws(IngestError) -> [UInt8] in
            let end = min(bytes.count, offset + n)
            defer { offset = end }
            return Array(bytes[offset..<end])
        }
        var ids: [String] = []
        var rejected: [RejectedRecord] = []
        var skipped = 0
        var batches = 0
        while let batch = try stream.next() {
            batches += 1
            #expect(batch.format == .sendgrid)
            ids += batch.events.map(\.id)
            rejected += batch.rejected
            skipped += batch.skipped.values.reduce(0, +)
        }
        #expect(batches > 1)
        #expect(ids == whole.events.map(\.id) && ids.count == 13_333)
        #expect(skipped == 6_666 && rejected.count == 1 && rejected.first?.error.element == 15_000 && rejected.first?.error.field == "email")
        #expect(rejected.first?.raw == Array(elements[15_000].utf8))
    }
}
