import DeliveryLedger
import Foundation
import LedgerTestSupport
import Testing
@testable import LedgerIngest

/// The public bug reports behind issue #15, each replayed in the provider's own webhook format:
/// - SendGrid delivers each event about 3 times on average (at-least-once webhooks): the same event
///   posted 3 times must count once;
/// - a product counted SES's Send and Delivery events as two more sends: Send + Delivery for one
///   message is 1 relayed and 1 delivered;
/// - a bounce arriving after a delivery left recipients "delivered": a Delivery then a Permanent
///   bounce 17 s later is Failed (hard), in either arrival order (the latest *final outcome* by
///   valid time decides, domain.md §3);
/// - a Transient bounce followed by a Delivery is Sent (the delivery is the latest final outcome);
/// - Brevo's events arrive out of order: a soft bounce that arrives before its request event stays
///   a soft failure until the delivery.
@Suite("Provider webhooks: the public bug reports")
struct ProviderBugReportTests {
    static func read(_ text: String, _ format: InputFormat = .auto) throws -> ParsedInput {
        try FeedReader.read(Array(text.utf8), file: "webhook.json", options: IngestOptions(format: format))
    }

    /// One payload per provider, each posted three times (three separate requests).
    static let onePerProvider = [
        "anymail-sendgrid/bounce_event.json", "anymail-amazon-ses/bounce_event.sns-envelope.json",
        "anymail-mailgun/failed_permanent_event.json", "anymail-postmark/bounce_event.json",
        "anymail-brevo/hard_bounce.json", "anymail-mailjet/bounce_event.json", "anymail-postal/failed_event.json",
    ]

    @Test("the same event posted 3 times counts once", arguments: onePerProvider)
    func postedThreeTimes(_ file: String) throws {
        let t = try TestLedger()
        let data = try Corpus.bytes("other/" + file)
        var appended: [Int] = []
        for _ in 0..<3 {
            let parsed = try FeedReader.read(data, file: file, options: IngestOptions())
            appended.append(try t.ledger.append(parsed.events).appended)
        }
        #expect(appended == [1, 0, 0])
        let e = try FeedReader.read(data, file: file, options: IngestOptions()).events[0]
        let k = try #require(try t.ledger.kpis(delivery: e.delivery, semantics: .classic))
        #expect(k.failed == 1 && k.bounced + k.failedBeforeRelay == 1 && k.toDeliver == 1)
    }

    @Test("SendGrid: one batch holding the same event 3 times (a retried post inside a batch) counts once")
    func sendGridBatchWithRepeats() throws {
        let one = #"{"email":"ann@example.com","timestamp":1461095250,"event":"delivered","sg_event_id":"ev-1","sg_message_id":"m1.filter","category":"spring","response":"250 OK"}"#
        let t = try TestLedger()
        let parsed = try Self.read("[\(one),\(one),\(one)]")
        #expect(parsed.format == .sendgrid && parsed.events.count == 3)
        let result = try t.ledger.append(parsed.events)
        #expect(result.appended == 1 && result.duplicates.count == 2)
        let k = try #require(try t.ledger.kpis(delivery: "spring", semantics: .efs))
        #expect(k.delivered == 1 && k.sent == 1 && k.toDeliver == 1)
    }

    @Test("SES Send + Delivery for one message = 1 relayed, 1 delivered (not 2 or 3 sends)", arguments: [Semantics.classic, .efs])
    func sesSendAndDelivery(_ semantics: Semantics) throws {
        let t = try TestLedger()
        for file in ["amazon-ses-docs/event-publishing-send-record.json", "amazon-ses-docs/event-publishing-delivery-record.json"] {
            _ = try t.ledger.append(try Corpus.read("other/" + file).events)
        }
        let k = try #require(try t.ledger.kpis(delivery: "ConfigSet", semantics: semantics))
        #expect(k.toDeliver == 1 && k.processed == 1 && k.relayed == 1 && k.delivered == 1)
        #expect(k.sent == 1 && k.successRate == 1.0 && k.failed == 0 && k.takenIntoAccount == 0)
    }

    // MARK: SES Delivery and Bounce for one message

    static func sesDelivery(at time: String) -> String {
        #"{"notificationType":"Delivery","mail":{"timestamp":"2026-11-02T09:00:00.000Z","messageId":"m-17","destination":["ann@example.com"]},"delivery":{"timestamp":"\#(time)","recipients":["ann@example.com"],"smtpResponse":"250 2.0.0 OK"}}"#
    }

    static func sesBounce(type: String, subType: String, at time: String, feedback: String, action: String = "failed", status: String = "5.1.1",
                          diagnostic: String = "smtp; 550 5.1.1 user unknown") -> String {
        #"{"notificationType":"Bounce","mail":{"timestamp":"2026-11-02T09:00:00.000Z","messageId":"m-17","destination":["ann@example.com"]},"bounce":{"bounceType":"\#(type)","bounceSubType":"\#(subType)","timestamp":"\#(time)","feedbackId":"\#(feedback)","bouncedRecipients":[{"emailAddress":"ann@example.com","action":"\#(action)","status":"\#(status)","diagnosticCode":"\#(diagnostic)"}]}}"#
    }

    @Test("SES Delivery then a Permanent bounce 17 s later → Failed (hard), in either arrival order", arguments: [false, true])
    func deliveryThenPermanentBounce(bounceArrivesFirst: Bool) throws {
        let t = try TestLedger()
        let delivery = Self.sesDelivery(at: "2026-11-02T09:00:03.000Z")
        let bounce = Self.sesBounce(type: "Permanent", subType: "General", at: "2026-11-02T09:00:20.000Z", feedback: "fb-1")
        for body in bounceArrivesFirst ? [bounce, delivery] : [delivery, bounce] {
            _ = try t.ledger.append(try Self.read(body).events)
        }
        let r = try #require(try t.ledger.status(delivery: "m-17", recipient: "ann@example.com"))
        for view in [r.classic, r.efs] {
            #expect(view.status == .failed && view.failureType == .hard && view.failureReason == .userUnknown)
        }
        let k = try #require(try t.ledger.kpis(delivery: "m-17", semantics: .efs))
        #expect(k.failed == 1 && k.sent == 0 && k.hardBounced == 1)
    }

    @Test("SES Transient bounce then a Delivery → Sent under both semantics")
    func transientThenDelivery() throws {
        let t = try TestLedger()
        let bounce = Self.sesBounce(type: "Transient", subType: "MailboxFull", at: "2026-11-02T09:00:05.000Z", feedback: "fb-2",
                                    status: "4.2.2", diagnostic: "smtp; 452 4.2.2 mailbox full")
        _ = try t.ledger.append(try Self.read(bounce).events)
        let before = try #require(try t.ledger.status(delivery: "m-17", recipient: "ann@example.com"))
        #expect(before.efs.status == .failed && before.efs.failureType == .soft && before.efs.failureReason == .mailboxFull)
        _ = try t.ledger.append(try Self.read(Self.sesDelivery(at: "2026-11-02T10:00:00.000Z")).events)
        let r = try #require(try t.ledger.status(delivery: "m-17", recipient: "ann@example.com"))
        #expect(r.classic.status == .sent && r.efs.status == .sent)
    }

    @Test("SES: a recipient's action wins over the notification's bounceType (the documentation's Permanent notification with a delayed recipient)")
    func perRecipientActionWins() throws {
        // The field reference's bounce object (its 2nd recipient: action delayed, status 4.0.0) and mail
        // object, put together as the notification they are parts of.
        let bounce = String(decoding: try Corpus.bytes("other/amazon-ses-docs/contents-fragment-bounce-object.json"), as: UTF8.self)
        let body = #"{"notificationType":"Bounce","bounce":\#(bounce),"mail":{"messageId":"m-frag","destination":["recipient1@example.com","recipient2@example.com"]}}"#
        let events = try Self.read(body).events
        try #require(events.count == 2)
        // recipient1: action failed, 550 user unknown, Permanent → a final bounce, hard, User unknown.
        #expect(events[0].kind == .bounce && events[0].final && events[0].qualification == Qualification(.hard, .userUnknown))
        // recipient2: action delayed, 4.0.0 → a retry (soft), although the notification says Permanent.
        #expect(events[1].kind == .retry && !events[1].final && events[1].qualification?.type != .hard)
        #expect(events[1].enhancedStatus == "4.0.0")
        // The fragments alone are not notifications: a clear error naming the missing field.
        let error = try #require(readError(try Corpus.bytes("other/amazon-ses-docs/contents-fragment-bounce-object.json"),
                                           options: IngestOptions(format: .ses)))
        #expect(error.field == "notificationType")
    }

    // MARK: Brevo out of order

    static func brevo(_ event: String, ms: Int64, extra: String = "") -> String {
        #"{"event":"\#(event)","email":"ann@example.com","message-id":"<m-brevo@smtp-relay.mailin.fr>","ts_epoch":\#(ms),"tags":["spring"]\#(extra)}"#
    }

    @Test("Brevo: a soft bounce that arrives before its request event stays a soft failure until the delivery", arguments: [Semantics.classic, .efs])
    func brevoOutOfOrder(_ semantics: Semantics) throws {
        let t = try TestLedger()
        let requestAt: Int64 = 1_793_610_000_000
        // Arrival order: the soft bounce (5 s after the request), then the request.
        _ = try t.ledger.append(try Self.read(Self.brevo("soft_bounce", ms: requestAt + 5_000, extra: #","reason":"452 4.2.2 mailbox full""#)).events)
        _ = try t.ledger.append(try Self.read(Self.brevo("request", ms: requestAt)).events)
        func view() throws -> MessageStatusView {
            let r = try #require(try t.ledger.status(delivery: "spring", recipient: "ann@example.com"))
            return semantics == .classic ? r.classic : r.efs
        }
        var v = try view()
        #expect(v.status == .failed && v.failureType == .soft && v.failureReason == .mailboxFull)
        // The delivery, 10 minutes later, is the latest final outcome.
        _ = try t.ledger.append(try Self.read(Self.brevo("delivered", ms: requestAt + 600_000)).events)
        v = try view()
        #expect(v.status == .sent && v.failureType == nil)
        let k = try #require(try t.ledger.kpis(delivery: "spring", semantics: semantics))
        #expect(k.relayed == 1 && k.delivered == 1 && k.failed == 0 && k.sent == 1)
    }
}
