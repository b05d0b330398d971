import DeliveryLedger
import Foundation
import Testing
@testable import LedgerIngest

/// Payloads the providers' own documentation shows, beyond the anymail fixtures of the corpus
/// (found by a tester reading the vendors' pages), each with the answer the documentation gives.
@Suite("Provider webhooks: documented payloads")
struct ProviderDocPayloadTests {
    static func read(_ text: String, _ options: IngestOptions = IngestOptions()) throws -> ParsedInput {
        try FeedReader.read(Array(text.utf8), file: "webhook.json", options: options)
    }

    static let signature = #""signature":{"timestamp":"1529006854","token":"t","signature":"s"}"#

    /// Mailgun, "Test permanent_fail webhook": `suppress-bounce` with Mailgun's code 605 in
    /// `delivery-status.code` (not an SMTP reply): before relay, hard, Address in quarantine; 606
    /// without a reason: Denylisted address.
    @Test func mailgunSuppressionCodesAreMailgunsNotSMTP() throws {
        let failed = #"{\#(Self.signature),"event-data":{"id":"G9B","timestamp":1521233195.375624,"event":"failed","severity":"permanent","reason":"suppress-bounce","delivery-status":{"attempt-no":1,"message":"","code":605,"description":"Not delivering to previously bounced address"},"recipient":"alice@example.com","tags":["my_tag_1"]}}"#
        let e = try #require(try Self.read(failed).events.first)
        #expect(e.kind == .bounce && e.beforeRelay && e.smtpCode == nil)
        #expect(e.qualification == Qualification(.hard, .addressInQuarantine) && e.delivery == "my_tag_1")
        let unsub = #"{\#(Self.signature),"event-data":{"id":"G9C","timestamp":1521233195.5,"event":"failed","severity":"permanent","delivery-status":{"code":606,"description":"Not delivering to unsubscribed address"},"recipient":"alice@example.com","tags":["t"]}}"#
        let u = try #require(try Self.read(unsub).events.first)
        #expect(u.beforeRelay && u.qualification == Qualification(.hard, .denylistedAddress))
    }

    /// Mailgun's Events documentation shows `delivered` with `delivery-status.code` 0.
    @Test func mailgunDeliveredWithCodeZero() throws {
        let body = #"{\#(Self.signature),"event-data":{"id":"d0","timestamp":1377198389.769,"event":"delivered","delivery-status":{"code":0,"message":"","description":""},"recipient":"d0@example.com","tags":["t"]}}"#
        let e = try #require(try Self.read(body).events.first)
        #expect(e.kind == .delivered && e.smtpCode == nil)
    }

    /// Mailgun's "Webhook Payloads" page shows the event data alone (no `event-data` wrapper): read as
    /// the current format — a permanent failure is a bounce, never skipped as an unknown legacy event;
    /// `delivery-status.bounce-type` gives the type (`hard` on a 5.7.1 reply the text rules call soft).
    @Test func mailgunEventDataAloneIsTheCurrentFormat() throws {
        let body = #"{"event":"failed","id":"2kF","timestamp":1770918175.5923693,"log-level":"error","message":{"headers":{"message-id":"m1@mailgun.com"}},"recipient":"bad@sample.mailgun.com","tags":["webhook_payload"],"reason":"bounce","severity":"permanent","delivery-status":{"attempt-no":1,"code":554,"message":"5.7.1 Relay access denied","enhanced-code":"5.7.1","bounce-type":"hard"}}"#
        let parsed = try Self.read(body)
        #expect(parsed.format == .mailgun && parsed.skipped.isEmpty)
        let e = try #require(parsed.events.first)
        #expect(e.kind == .bounce && e.final && !e.beforeRelay && e.smtpCode == 554)
        #expect(e.qualification?.type == .hard && e.qualifier == "mailgun:bounce-type hard")
        let delivered = #"{"event":"delivered","id":"x1","timestamp":1770145231.658,"log-level":"info","message":{"headers":{"message-id":"m2@mailgun.com"}},"recipient":"ok@sample.mailgun.com","tags":["webhook_payload"],"delivery-status":{"code":250,"message":"OK"}}"#
        #expect(try Self.read(delivered).events.first?.kind == .delivered)
    }

    /// Without `event-data.id`, the same event resent with another signature block (a new token at
    /// each delivery attempt) is one event: its id comes from what identifies it, not the body's hash.
    @Test func mailgunEventWithoutIdIsIdempotentAcrossResends() throws {
        func body(_ token: String) -> String {
            #"{"signature":{"timestamp":"1529006854","token":"\#(token)","signature":"s-\#(token)"},"event-data":{"event":"failed","timestamp":1521233195.375624,"severity":"permanent","reason":"bounce","message":{"headers":{"message-id":"m1@example.com"}},"recipient":"r@example.com","tags":["t"],"delivery-status":{"code":550,"message":"5.1.1 unknown"}}}"#
        }
        let first = try #require(try Self.read(body("a")).events.first)
        let second = try #require(try Self.read(body("b")).events.first)
        #expect(first.id == second.id)
        #expect(first.id == "mailgun:failed:permanent:m1@example.com:r@example.com:1521233195375")
    }

    /// A body read whole (a webhook POST) holds the same 1 MiB limit per array element as a file
    /// streamed by `ledger ingest`, so that an acknowledged batch can be ingested again from a copy.
    @Test func arrayElementsOverOneMiBAreRefusedWholeBodyToo() throws {
        let big = String(repeating: "x", count: FeedStream.maximumRecordLength)
        let brevo = #"[{"event":"delivered","email":"a@example.com","message-id":"<m1@example.com>","ts_epoch":1604933737000,"tag":"t","reason":"\#(big)"}]"#
        #expect { try Self.read(brevo) } throws: { ($0 as? IngestError)?.message.contains("longer than 1 MiB") == true && ($0 as? IngestError)?.element == 0 }
        let sparkpost = "[" + msys("delivery", #""reason":"\#(big)""#) + "]"
        #expect { try Self.read(sparkpost) } throws: { ($0 as? IngestError)?.message.contains("longer than 1 MiB") == true }
    }

    /// A temporary reply is never hard (domain.md §5.1), whatever the provider's class says.
    @Test func mailgunHardBounceTypeOnATemporaryReplyIsSoft() throws {
        let body = #"{"event":"failed","id":"t1","timestamp":1770918175.5,"log-level":"error","recipient":"r@example.com","tags":["t"],"reason":"bounce","severity":"permanent","delivery-status":{"code":452,"message":"4.2.2 mailbox full","bounce-type":"hard"}}"#
        let e = try #require(try Self.read(body).events.first)
        #expect(e.kind == .bounce && e.qualification?.type == .soft)
    }

    /// `tags: ["*"]` on Mailgun's unsubscribe sample means "every tag": it names no delivery.
    @Test func mailgunStarTagNamesNoDelivery() throws {
        let body = #"{\#(Self.signature),"event-data":{"event":"unsubscribed","id":"89Q","timestamp":1770327090.46,"log-level":"info","message":{"headers":{"message-id":"m3@sample.mailgun.com"}},"recipient":"r@sample.mailgun.com","tags":["*"]}}"#
        var options = IngestOptions()
        options.delivery = "spring"
        #expect(try Self.read(body, options).events.first?.delivery == "spring")
        #expect(try Self.read(body).events.first?.delivery == "m3@sample.mailgun.com")
    }

    /// SES event publishing, "Complaint object": `complaintSubType` OnAccountSuppressionList — SES
    /// did not send (the address is on the account's suppression list): a failure before relay.
    @Test func sesComplaintOnAccountSuppressionList() throws {
        let body = #"{"eventType":"Complaint","complaint":{"complainedRecipients":[{"emailAddress":"r1@example.com"}],"timestamp":"2017-08-05T00:41:02.669Z","feedbackId":"fb-c1","complaintSubType":"OnAccountSuppressionList"},"mail":{"timestamp":"2017-08-05T00:40:02.012Z","source":"s@example.com","messageId":"EX-1","destination":["r1@example.com"],"tags":{"ses:configuration-set":["ConfigSet"]}}}"#
        let e = try #require(try Self.read(body).events.first)
        #expect(e.kind == .bounce && e.beforeRelay && e.qualification == Qualification(.hard, .denylistedAddress))
        let plain = body.replacingOccurrences(of: #","complaintSubType":"OnAccountSuppressionList""#, with: "")
        #expect(try Self.read(plain).events.first?.kind == .complaint)
    }

    /// SES `DeliveryDelay` without a diagnostic code: the documented `delayType` names the reason.
    @Test func sesDelayTypeGivesTheReason() throws {
        func body(_ type: String) -> String {
            #"{"eventType":"DeliveryDelay","mail":{"timestamp":"2020-06-16T00:15:40.641Z","source":"s@example.com","messageId":"EX-2","destination":["r1@example.com"],"tags":{"ses:configuration-set":["ConfigSet"]}},"deliveryDelay":{"timestamp":"2020-06-16T00:25:40.095Z","delayType":"\#(type)","expirationTime":"2020-06-16T00:25:40.914Z","delayedRecipients":[{"emailAddress":"r1@example.com"}]}}"#
        }
        let expected: [(String, FailureReason)] = [("MailboxFull", .mailboxFull), ("SpamDetected", .refused), ("IPFailure", .refused),
                                                   ("TransientCommunicationFailure", .unreachable), ("RecipientServerError", .unreachable)]
        for (type, reason) in expected {
            let e = try #require(try Self.read(body(type)).events.first)
            #expect(e.kind == .retry && e.qualification == Qualification(.soft, reason), "\(type)")
        }
        // AWS's samples carry a generic "status": "4.0.0" beside the delay type.
        let withStatus = body("MailboxFull").replacingOccurrences(of: #"{"emailAddress":"r1@example.com"}"#, with: #"{"emailAddress":"r1@example.com","status":"4.0.0"}"#)
        #expect(try Self.read(withStatus).events.first?.qualification == Qualification(.soft, .mailboxFull))
        let general = try #require(try Self.read(body("General")).events.first)
        #expect(general.qualification?.type != .hard && general.qualification?.reason == .notDefined)
    }

    /// Postal sends its status events for incoming mail too (`message.direction` `incoming`): skipped
    /// as inbound relay, never a delivery outcome.
    @Test func postalIncomingMessagesAreSkipped() throws {
        let body = #"{"event":"MessageSent","timestamp":1477945178.1,"uuid":"u-in-1","payload":{"status":"Sent","details":"Delivered to endpoint","output":"200 OK","timestamp":1477945177.1,"message":{"id":1,"token":"t","direction":"incoming","message_id":"in@app","to":"inbound@yourdomain.com","from":"x@example.com","tag":null}}}"#
        let parsed = try Self.read(body)
        #expect(parsed.events.isEmpty && parsed.skipped == ["postal inbound relay": 1])
        let bounced = #"{"event":"MessageBounced","timestamp":1477945178.1,"uuid":"u-in-2","payload":{"original_message":{"id":2,"token":"t","direction":"incoming","message_id":"in2@app","to":"pbin@example.com","from":"x@example.com"},"bounce":{"id":3,"token":"b","direction":"incoming","message_id":"b@app","to":"x@example.com","from":"postmaster@example.com"}}}"#
        #expect(try Self.read(bounced).skipped == ["postal inbound relay": 1])
    }

    /// SendGrid `dropped` with reason `Invalid` on a recipient that is no address: SendGrid's own
    /// verdict, counted as skipped; the batch's other events are read.
    @Test func sendGridDroppedInvalidAddressIsSkipped() throws {
        let batch = #"[{"email":"john@sendgrid.com","sg_event_id":"e1","sg_message_id":"m1.filter","timestamp":1386636112,"event":"processed","category":["c1"]},{"email":"not an email address","timestamp":1386636115,"reason":"Invalid","event":"dropped","category":["c1"]},{"email":"john@sendgrid.com","sg_event_id":"e2","sg_message_id":"m1.filter","timestamp":1386636113,"event":"delivered","category":["c1"]}]"#
        let parsed = try Self.read(batch)
        #expect(parsed.events.map(\.kind) == [.relay, .delivered])
        #expect(parsed.skipped == ["sendgrid dropped of a recipient that is not an address": 1])
        // Any other event with such a recipient stays an error naming the field.
        let bad = #"[{"email":"not an email address","sg_event_id":"e3","sg_message_id":"m1.filter","timestamp":1386636113,"event":"delivered","category":["c1"]}]"#
        #expect(throws: IngestError.self) { try Self.read(bad) }
    }

    /// Brevo's marketing webhooks (`camp_id`, `ts_event`, no `message-id`) are detected; the
    /// campaign is the delivery.
    @Test func brevoMarketingWebhook() throws {
        let body = #"{"id":123456,"camp_id":12,"email":"spam@domain.com","campaign name":"My First Campaign","date_sent":"2020-10-09 00:00:00","date_event":"2020-10-09 00:00:00","event":"hard_bounce","reason":"550 5.1.1 user unknown","tag":"","ts_sent":1604933619,"ts_event":1604933737,"ts":1604937337}"#
        let parsed = try Self.read(body)
        #expect(parsed.format == .brevo)
        let e = try #require(parsed.events.first)
        #expect(e.delivery == "12" && e.kind == .bounce && e.qualification == Qualification(.hard, .userUnknown))
        #expect(e.occurredAt == Instant(millisecondsSinceEpoch: 1_604_933_737_000))
    }
}
