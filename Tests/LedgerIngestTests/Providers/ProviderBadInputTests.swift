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
}
