import DeliveryLedger
import Foundation
import LedgerTestSupport
import Testing
@testable import LedgerIngest

/// Every payload of `../shared/corpus/other/` (anymail's seven providers, the Amazon SES
/// documentation samples incl. SNS envelopes) ingested alone into a fresh ledger, auto-detected,
/// with the events, statuses and KPIs worked out by hand from each provider's documentation (the
/// mapping tables are on each reader: `Sources/LedgerIngest/Providers/<Provider>/`).
///
/// How the statuses follow (domain.md §3): a `relay` alone is Sent (classic) / Taken into account
/// (EFS); a `delivered` is Sent under both; a final `bounce` or `timeout` is Failed under both with
/// its type and reason; a `retry` alone is a soft error the MTA is still trying — the message was
/// handed to the MTA, so Sent (retrying) / Taken into account (retrying); a `complaint` or
/// `unsubscribe` never changes a status (Pending when nothing else is known).
///
/// Reasons given by the text rules (`default-rules.json`) are worked out from the codes: X.1.1 is
/// "bad destination mailbox address" (RFC 3463 §3.2) → User unknown, hard on a 5xx; a 4xx reply or
/// X.4.x code is temporary → soft (domain.md §5.1).
@Suite("Provider webhooks: the corpus")
struct ProviderCorpusTests {
    /// One expected event.
    struct E: CustomStringConvertible, Sendable {
        var kind: EventKind
        var recipient: String
        var delivery: String
        var q: Qualification? = nil
        var beforeRelay = false
        var final = true
        var description: String { "\(kind) \(recipient) in \(delivery) \(q.map { "\($0.type)/\($0.reason)" } ?? "") \(beforeRelay ? "before relay" : "")" }
    }
    /// One corpus file, its format and what it gives.
    struct Case: CustomStringConvertible, Sendable {
        var file: String
        var format: InputFormat
        var events: [E]
        var skipped: [String: Int] = [:]
        var description: String { file }
    }

    static let hardUnknown = Qualification(.hard, .userUnknown)

    static let cases: [Case] = [
        // MARK: Amazon SES documentation (event publishing, delivery id = tag ses:configuration-set "ConfigSet")
        Case(file: "amazon-ses-docs/event-publishing-send-record.json", format: .ses,
             events: [E(kind: .relay, recipient: "recipient@example.com", delivery: "ConfigSet")]),
        Case(file: "amazon-ses-docs/event-publishing-delivery-record.json", format: .ses,
             events: [E(kind: .delivered, recipient: "recipient@example.com", delivery: "ConfigSet")]),
        // Permanent/General, action failed, 550 5.1.1 user unknown: hard (Permanent), User unknown (X.1.1).
        Case(file: "amazon-ses-docs/event-publishing-bounce-record.json", format: .ses,
             events: [E(kind: .bounce, recipient: "recipient@example.com", delivery: "ConfigSet", q: hardUnknown)]),
        Case(file: "amazon-ses-docs/event-publishing-complaint-record.json", format: .ses,
             events: [E(kind: .complaint, recipient: "recipient@example.com", delivery: "ConfigSet")]),
        // Reject: SES refused to send (virus): before relay, soft, Refused.
        Case(file: "amazon-ses-docs/event-publishing-reject-record.json", format: .ses,
             events: [E(kind: .bounce, recipient: "sender@example.com", delivery: "ConfigSet", q: Qualification(.soft, .refused), beforeRelay: true)]),
        // DeliveryDelay, 421 4.4.1 Unable to connect: a retry, soft; X.4.1 "no answer from host" → Unreachable.
        Case(file: "amazon-ses-docs/event-publishing-deliverydelay-record.json", format: .ses,
             events: [E(kind: .retry, recipient: "recipient@example.com", delivery: "ConfigSet", q: Qualification(.soft, .unreachable), final: false)]),
        Case(file: "amazon-ses-docs/event-publishing-rendering-failure-record.json", format: .ses,
             events: [E(kind: .bounce, recipient: "recipient@example.com", delivery: "ConfigSet", q: Qualification(.notDefined, .notDefined), beforeRelay: true)]),
        Case(file: "amazon-ses-docs/event-publishing-open-record.json", format: .ses, events: [], skipped: ["ses Open": 1]),
        Case(file: "amazon-ses-docs/event-publishing-click-record.json", format: .ses, events: [], skipped: ["ses Click": 1]),
        Case(file: "amazon-ses-docs/event-publishing-subscription-record.json", format: .ses, events: [], skipped: ["ses Subscription": 1]),
        // Classic notifications: no tags, so the delivery is mail.messageId.
        // Permanent/General without action or text: hard, Not defined, for each of the two recipients.
        Case(file: "amazon-ses-docs/sns-notification-bounce-no-dsn.json", format: .ses, events: [
            E(kind: .bounce, recipient: "jane@example.com", delivery: "00000137860315fd-34208509-5b74-41f3-95c5-22c1edc3c924-000000", q: Qualification(.hard, .notDefined)),
            E(kind: .bounce, recipient: "richard@example.com", delivery: "00000137860315fd-34208509-5b74-41f3-95c5-22c1edc3c924-000000", q: Qualification(.hard, .notDefined)),
        ]),
        Case(file: "amazon-ses-docs/sns-notification-bounce-with-dsn.json", format: .ses, events: [
            E(kind: .bounce, recipient: "jane@example.com", delivery: "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000", q: hardUnknown),
        ]),
        Case(file: "amazon-ses-docs/sns-notification-complaint-no-feedback.json", format: .ses, events: [
            E(kind: .complaint, recipient: "richard@example.com", delivery: "0000013786031775-163e3910-53eb-4c8e-a04a-f29debf88a84-000000"),
        ]),
        Case(file: "amazon-ses-docs/sns-notification-complaint-with-feedback.json", format: .ses, events: [
            E(kind: .complaint, recipient: "richard@example.com", delivery: "000001378603177f-7a5433e7-8edb-42ae-af10-f0181f34d6ee-000000"),
        ]),
        Case(file: "amazon-ses-docs/sns-notification-delivery.json", format: .ses, events: [
            E(kind: .delivered, recipient: "jane@example.com", delivery: "0000014644fe5ef6-9a483358-9170-4cb4-a269-f5dcdf415321-000000"),
        ]),

        // MARK: anymail, Amazon SES (bare notification and the SNS envelope POSTed)
        Case(file: "anymail-amazon-ses/bounce_event.ses-notification.json", format: .ses, events: [
            E(kind: .bounce, recipient: "jane@example.com", delivery: "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000", q: hardUnknown),
        ]),
        Case(file: "anymail-amazon-ses/bounce_event.sns-envelope.json", format: .ses, events: [
            E(kind: .bounce, recipient: "jane@example.com", delivery: "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000", q: hardUnknown),
        ]),
        // The bare sample has no time at all (anymail trimmed it): skipped, never guessed.
        Case(file: "anymail-amazon-ses/multiple_bounce_event.ses-notification.json", format: .ses, events: [], skipped: ["ses Bounce without timestamp": 2]),
        // In its envelope the SNS Timestamp places it: both recipients, Permanent/General → hard, Not defined.
        Case(file: "anymail-amazon-ses/multiple_bounce_event.sns-envelope.json", format: .ses, events: [
            E(kind: .bounce, recipient: "jane@example.com", delivery: "00000137860315fd-34208509-5b74-41f3-95c5-22c1edc3c924-000000", q: Qualification(.hard, .notDefined)),
            E(kind: .bounce, recipient: "richard@example.com", delivery: "00000137860315fd-34208509-5b74-41f3-95c5-22c1edc3c924-000000", q: Qualification(.hard, .notDefined)),
        ]),
        Case(file: "anymail-amazon-ses/complaint_event.ses-notification.json", format: .ses, events: [], skipped: ["ses Complaint without timestamp": 1]),
        Case(file: "anymail-amazon-ses/complaint_event.sns-envelope.json", format: .ses, events: [
            E(kind: .complaint, recipient: "richard@example.com", delivery: "000001378603177f-7a5433e7-8edb-42ae-af10-f0181f34d6ee-000000"),
        ]),
        Case(file: "anymail-amazon-ses/delivery_event.ses-notification.json", format: .ses, events: [
            E(kind: .delivered, recipient: "jane@example.com", delivery: "0000014644fe5ef6-9a483358-9170-4cb4-a269-f5dcdf415321-000000"),
        ]),
        Case(file: "anymail-amazon-ses/delivery_event.sns-envelope.json", format: .ses, events: [
            E(kind: .delivered, recipient: "jane@example.com", delivery: "0000014644fe5ef6-9a483358-9170-4cb4-a269-f5dcdf415321-000000"),
        ]),
        Case(file: "anymail-amazon-ses/reject_event.ses-notification.json", format: .ses, events: [
            E(kind: .bounce, recipient: "recipient@example.com", delivery: "7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000", q: Qualification(.soft, .refused), beforeRelay: true),
        ]),
        Case(file: "anymail-amazon-ses/reject_event.sns-envelope.json", format: .ses, events: [
            E(kind: .bounce, recipient: "recipient@example.com", delivery: "7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000", q: Qualification(.soft, .refused), beforeRelay: true),
        ]),

        // MARK: anymail, SendGrid (delivery = category, else the X-Message-Id before sg_message_id's first '.')
        Case(file: "anymail-sendgrid/processed_event.json", format: .sendgrid,
             events: [E(kind: .relay, recipient: "recipient@example.com", delivery: "tag1")]),
        Case(file: "anymail-sendgrid/delivered_event.json", format: .sendgrid,
             events: [E(kind: .delivered, recipient: "recipient@example.com", delivery: "wrfRRvF7Q0GgwUo2CvDmEA")]),
        // deferred, "IPs were throttled by recipient server": a retry, soft; throttling is the receiver
        // refusing the sender's rate → Refused (the rule table's rate-limit rule).
        Case(file: "anymail-sendgrid/deferred_event.json", format: .sendgrid,
             events: [E(kind: .retry, recipient: "recipient@example.com", delivery: "u9Gvi3mzT6iC2poAb58_qQ", q: Qualification(.soft, .refused), final: false)]),
        // bounce type bounce, 550 5.1.1: hard, User unknown.
        Case(file: "anymail-sendgrid/bounce_event.json", format: .sendgrid,
             events: [E(kind: .bounce, recipient: "noreply@example.com", delivery: "Lli-03HcQ5-JLybO9fXsJg", q: hardUnknown)]),
        // dropped "Bounced Address": SendGrid's suppression of a bounced address → before relay, hard, Address in quarantine.
        Case(file: "anymail-sendgrid/dropped_bounced.json", format: .sendgrid,
             events: [E(kind: .bounce, recipient: "example@example.com", delivery: "cat facts", q: Qualification(.hard, .addressInQuarantine), beforeRelay: true)]),
        // dropped "Invalid": an invalid address → before relay, hard, User unknown.
        Case(file: "anymail-sendgrid/dropped_invalid_event.json", format: .sendgrid,
             events: [E(kind: .bounce, recipient: "invalid@invalid", delivery: "filter0093p1las1", q: hardUnknown, beforeRelay: true)]),

        // MARK: anymail, Mailgun (delivery = first tag, else the Message-Id)
        Case(file: "anymail-mailgun/delivered_event.json", format: .mailgun,
             events: [E(kind: .delivered, recipient: "recipient@example.com", delivery: "20180812211713.1.DF5966851B4BAA99@example.org")]),
        // failed/permanent, 550 5.1.1: hard, User unknown.
        Case(file: "anymail-mailgun/failed_permanent_event.json", format: .mailgun,
             events: [E(kind: .bounce, recipient: "invalid@example.com", delivery: "20180812214658.1.0DF563D0B3597700@example.org", q: hardUnknown)]),
        // failed/temporary, 498 "No MX for …": a retry, soft; no MX → Invalid domain.
        Case(file: "anymail-mailgun/failed_temporary_event.json", format: .mailgun,
             events: [E(kind: .retry, recipient: "undeliverable@nomx.example.com", delivery: "20180812214638.1.4A7D468E9BC18C5D@example.org", q: Qualification(.soft, .invalidDomain), final: false)]),
        // failed/temporary greylisted, 450 "Recipient address rejected: Greylisted": a retry, soft;
        // greylisting is a deferral (RFC 6647 §2.1) → Unreachable (rules-2026.12-10; was Refused).
        Case(file: "anymail-mailgun/failed_greylisted_event.json", format: .mailgun,
             events: [E(kind: .retry, recipient: "undeliverable@mx.example.com", delivery: "20180812214638.1.4A7D468E9BC18C5D@example.org", q: Qualification(.soft, .unreachable), final: false)]),
        Case(file: "anymail-mailgun/rejected_event.json", format: .mailgun, events: [], skipped: ["mailgun rejected without recipient": 1]),
        Case(file: "anymail-mailgun/complained_event.json", format: .mailgun,
             events: [E(kind: .complaint, recipient: "recipient@example.com", delivery: "20130718032413.263EE2E0926@example.org")]),
        Case(file: "anymail-mailgun/legacy_delivered_event.json", format: .mailgun,
             events: [E(kind: .delivered, recipient: "recipient@example.com", delivery: "<20160421175529.19495.89030.B3AE3728@example.com>")]),
        // legacy dropped, hardfail, code 605 "previously bounced": before relay, hard, Address in quarantine.
        Case(file: "anymail-mailgun/legacy_dropped_bounce.json", format: .mailgun,
             events: [E(kind: .bounce, recipient: "bounce@example.com", delivery: "<20160421180324.70521.79375.96884DDB@example.com>", q: Qualification(.hard, .addressInQuarantine), beforeRelay: true)]),
        Case(file: "anymail-mailgun/legacy_dropped_spam.json", format: .mailgun, events: [], skipped: ["mailgun dropped without timestamp": 1]),
        Case(file: "anymail-mailgun/legacy_dropped_timed_out.json", format: .mailgun, events: [], skipped: ["mailgun dropped without timestamp": 1]),
        Case(file: "anymail-mailgun/legacy_invalid_mailbox.json", format: .mailgun, events: [], skipped: ["mailgun bounced without timestamp": 1]),
        Case(file: "anymail-mailgun/legacy_alt_smtp_code.json", format: .mailgun, events: [], skipped: ["mailgun bounced without timestamp": 1]),

        // MARK: anymail, Postmark (delivery = Tag, else MessageID)
        // HardBounce, 550 5.1.1: hard, User unknown.
        Case(file: "anymail-postmark/bounce_event.json", format: .postmark,
             events: [E(kind: .bounce, recipient: "bounce@example.com", delivery: "2706ee8a-737c-4285-b032-ccd317af53ed", q: hardUnknown)]),
        Case(file: "anymail-postmark/delivered_event.json", format: .postmark,
             events: [E(kind: .delivered, recipient: "recipient@example.com", delivery: "welcome-email")]),
        Case(file: "anymail-postmark/spam_event.json", format: .postmark,
             events: [E(kind: .complaint, recipient: "spam@example.com", delivery: "Test")]),
        Case(file: "anymail-postmark/subscription_change_bounce.json", format: .postmark, events: [], skipped: ["postmark SubscriptionChange HardBounce": 1]),
        Case(file: "anymail-postmark/bounce_unsubscribe_variant.json", format: .postmark, events: [], skipped: ["postmark Bounce Unsubscribe without recipient": 1]),

        // MARK: anymail, Brevo (delivery = first of tags, else tag, else message-id)
        Case(file: "anymail-brevo/sent_event.json", format: .brevo,
             events: [E(kind: .relay, recipient: "recipient@example.com", delivery: "tag1")]),
        Case(file: "anymail-brevo/delivered_event.json", format: .brevo,
             events: [E(kind: .delivered, recipient: "recipient@example.com", delivery: "<201803011158.9876543210@smtp-relay.mailin.fr>")]),
        // hard_bounce "550 5.5.0 … mailbox unavailable": hard (Brevo's class); "mailbox unavailable" → User unknown.
        Case(file: "anymail-brevo/hard_bounce.json", format: .brevo,
             events: [E(kind: .bounce, recipient: "not-a-user@example.com", delivery: "header-tag", q: hardUnknown)]),
        // soft_bounce "undefined Unable to find MX of domain …": soft (Brevo's class); the text has no
        // code; the general rule for a failed MX lookup (invalid-domain-text, RFC 5321 §5.1): Invalid domain.
        Case(file: "anymail-brevo/soft_bounce_event.json", format: .brevo,
             events: [E(kind: .bounce, recipient: "recipient@no-mx.example.com", delivery: "<201803011158.9876543210@smtp-relay.mailin.fr>", q: Qualification(.soft, .invalidDomain))]),
        // deferred with a 550 5.1.1 text: a retry is never hard → soft, User unknown.
        Case(file: "anymail-brevo/deferred_event.json", format: .brevo,
             events: [E(kind: .retry, recipient: "notauser@example.com", delivery: "<201803011158.9876543210@smtp-relay.mailin.fr>", q: Qualification(.soft, .userUnknown), final: false)]),
        Case(file: "anymail-brevo/blocked.json", format: .brevo,
             events: [E(kind: .bounce, recipient: "recipient@example.com", delivery: "<201803011158.9876543210@smtp-relay.mailin.fr>", q: Qualification(.hard, .denylistedAddress), beforeRelay: true)]),
        Case(file: "anymail-brevo/invalid_email.json", format: .brevo,
             events: [E(kind: .bounce, recipient: "recipient@example.com", delivery: "<201803011158.9876543210@smtp-relay.mailin.fr>", q: hardUnknown, beforeRelay: true)]),
        Case(file: "anymail-brevo/error_email.json", format: .brevo,
             events: [E(kind: .bounce, recipient: "example@domain.com", delivery: "transac_messages", q: Qualification(.notDefined, .notDefined), beforeRelay: true)]),
        Case(file: "anymail-brevo/spam.json", format: .brevo,
             events: [E(kind: .complaint, recipient: "recipient@example.com", delivery: "<201803011158.9876543210@smtp-relay.mailin.fr>")]),
        Case(file: "anymail-brevo/complaint.json", format: .brevo,
             events: [E(kind: .complaint, recipient: "example@domain.com", delivery: "transac_messages")]),

        // MARK: anymail, Mailjet (delivery = customcampaign, else mj_campaign_id when not 0, else MessageID)
        Case(file: "anymail-mailjet/sent_event.json", format: .mailjet,
             events: [E(kind: .delivered, recipient: "recipient@example.com", delivery: "tag1")]),
        Case(file: "anymail-mailjet/non_grouped_event.json", format: .mailjet,
             events: [E(kind: .delivered, recipient: "recipient@example.com", delivery: "1234567890")]),
        // bounce, hard_bounce true, error "invalid domain": hard, Invalid domain.
        Case(file: "anymail-mailjet/bounce_event.json", format: .mailjet,
             events: [E(kind: .bounce, recipient: "invalid@invalid", delivery: "1234567890", q: Qualification(.hard, .invalidDomain))]),
        // bounce, hard_bounce false, error "greylisted": soft, Unreachable (a final soft bounce).
        Case(file: "anymail-mailjet/bounced_greylist_event.json", format: .mailjet,
             events: [E(kind: .bounce, recipient: "protected@example.com", delivery: "1234567890", q: Qualification(.soft, .unreachable))]),
        // blocked, error "typofix": Mailjet did not send (mistyped address) → before relay, hard, User unknown.
        Case(file: "anymail-mailjet/blocked_event.json", format: .mailjet,
             events: [E(kind: .bounce, recipient: "bad@example.com", delivery: "12345678901234567", q: hardUnknown, beforeRelay: true)]),
        Case(file: "anymail-mailjet/spam_event.json", format: .mailjet,
             events: [E(kind: .complaint, recipient: "spam@example.com", delivery: "1234567890")]),

        // MARK: anymail, Postal (delivery = message tag, else message_id)
        Case(file: "anymail-postal/delivered_event.json", format: .postal,
             events: [E(kind: .delivered, recipient: "recipient@example.com", delivery: "welcome-email")]),
        // SoftFail, "server output" (no code, no rule): a retry, Not defined (type and reason; a retry is
        // never hard, and nothing says more).
        Case(file: "anymail-postal/deferred_event.json", format: .postal,
             events: [E(kind: .retry, recipient: "deferred@example.com", delivery: "7b095c0e-2c98-4e68-a41f-7bd217a83925@rp.postal.example.com", q: Qualification(.notDefined, .notDefined), final: false)]),
        // HardFail, "server output": a final bounce; no code, no rule → Not defined.
        Case(file: "anymail-postal/failed_event.json", format: .postal,
             events: [E(kind: .bounce, recipient: "failed@example.com", delivery: "cfb29da8ed1e4ed5a6c8a0f24d7a9ef3@rp.postal.example.com", q: Qualification(.notDefined, .notDefined))]),
        // original_message + bounce: a bounce message Postal received, final, no text → Not defined.
        Case(file: "anymail-postal/bounce_event.json", format: .postal,
             events: [E(kind: .bounce, recipient: "bounce@example.com", delivery: "7b82aac4-5d63-41b8-8e35-9faa31a892dc@rp.postal.example.com", q: Qualification(.notDefined, .notDefined))]),
        Case(file: "anymail-postal/queued_event.json", format: .postal, events: [], skipped: ["postal MessageHeld": 1]),
    ]

    /// The statuses a message's lone event gives (see the suite's docs).
    static func expectedStatus(_ e: E) -> (classic: MessageStatus, efs: MessageStatus) {
        switch e.kind {
        case .relay: (.sent, .takenIntoAccount)
        case .delivered: (.sent, .sent)
        case .bounce, .timeout: (.failed, .failed)
        case .retry: (.sent, .takenIntoAccount)
        default: (.pending, .pending)
        }
    }

    @Test("every payload is read, auto-detected, into the events and statuses worked out from the provider's docs", arguments: cases)
    func corpusPayload(_ c: Case) throws {
        let data = try Corpus.bytes("other/" + c.file)
        let parsed = try FeedReader.read(data, file: c.file, options: IngestOptions())
        #expect(parsed.format == c.format)
        #expect(parsed.skipped == c.skipped)
        // Every type in the corpus is one its provider documents (ProviderReader.documentedTypes): the
        // only incomplete elements are anymail's trimmed samples, without recipient or time.
        #expect(parsed.skippedIncomplete.keys.allSatisfy { $0.hasSuffix(" without timestamp") || $0.hasSuffix(" without recipient") },
                "\(parsed.skippedIncomplete)")
        #expect(parsed.skippedIncomplete.values.reduce(0, +) == c.skipped.filter { $0.key.contains(" without ") }.values.reduce(0, +))
        #expect(parsed.rejected.isEmpty)
        try #require(parsed.events.count == c.events.count, "\(parsed.events.map { "\($0.kind) \($0.recipient) \($0.delivery)" })")
        for (got, want) in zip(parsed.events, c.events) {
            #expect(got.kind == want.kind, "\(want)")
            #expect(got.recipient == want.recipient)
            #expect(got.delivery == want.delivery)
            #expect(got.qualification == want.q, "\(want): got \(String(describing: got.qualification)) by \(got.qualifier ?? "-")")
            #expect(got.beforeRelay == want.beforeRelay)
            #expect(got.final == want.final)
            #expect(got.source == c.format.source)
            #expect(got.raw == data || data.contains(bytes: got.raw), "raw bytes are the record's")
        }
        // Into a ledger: each recipient's status and the delivery's KPIs.
        let t = try TestLedger()
        _ = try t.ledger.append(parsed.events)
        for e in c.events {
            let report = try #require(try t.ledger.status(delivery: e.delivery, recipient: e.recipient))
            let want = Self.expectedStatus(e)
            #expect(report.classic.status == want.classic, "\(e)")
            #expect(report.efs.status == want.efs, "\(e)")
            if e.kind == .bounce || e.kind == .timeout {
                #expect(report.classic.failureType == e.q?.type && report.classic.failureReason == e.q?.reason)
            }
            #expect(report.events.allSatisfy { $0.event.source == c.format.source }, "status says which provider reported each event")
        }
        for delivery in Set(c.events.map(\.delivery)) {
            let mine = c.events.filter { $0.delivery == delivery }
            let k = try #require(try t.ledger.kpis(delivery: delivery, semantics: .efs))
            #expect(k.failed == Int64(mine.filter { $0.kind == .bounce || $0.kind == .timeout }.count))
            #expect(k.delivered == Int64(mine.filter { $0.kind == .delivered }.count))
            #expect(k.failedBeforeRelay == Int64(mine.filter(\.beforeRelay).count))
            #expect(k.sent == Int64(mine.filter { $0.kind == .delivered }.count), "EFS counts a message as sent on delivery only")
        }
        // Re-reading appends nothing (idempotency from the provider's event id).
        let again = try t.ledger.append(try FeedReader.read(data, file: c.file, options: IngestOptions()).events)
        #expect(again.appended == 0)
    }

    @Test("the corpus list covers every payload file of corpus/other")
    func coversEveryFile() throws {
        let folder = Corpus.folder.appendingPathComponent("other")
        var files: [String] = []
        for dir in try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() where !dir.hasSuffix(".txt") {
            for f in try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent(dir).path)
            where f.hasSuffix(".json") && f != "expectations.anymail.json" && !f.hasPrefix("contents-fragment-") {
                files.append("\(dir)/\(f)")
            }
        }
        #expect(Set(files) == Set(Self.cases.map(\.file)))
    }
}
