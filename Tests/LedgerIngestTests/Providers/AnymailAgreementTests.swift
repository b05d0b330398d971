import DeliveryLedger
import Foundation
import Testing
@testable import LedgerIngest

/// Agreement with django-anymail's normalised events (`expectations.anymail.json` in each
/// `../shared/corpus/other/anymail-<provider>/` folder), reported per provider. anymail's opinion is
/// a cross-check, not ground truth: every case where the ledger differs is listed in ``decided``,
/// and each is a decision written in README ("Input: email service providers", agreement with
/// anymail). The test fails when a new difference appears or a listed one disappears.
@Suite("Provider webhooks: agreement with anymail")
struct AnymailAgreementTests {
    /// The ledger's outcome for a case, in anymail's vocabulary: the event types it is compatible with.
    static func anymailTypes(of e: Event) -> Set<String> {
        switch e.kind {
        case .relay: ["queued", "sent"]
        case .delivered: ["delivered"]
        case .bounce: e.beforeRelay ? ["rejected", "failed"] : ["bounced", "failed"]
        case .timeout: ["bounced", "rejected", "failed"]
        case .retry: ["deferred"]
        case .complaint: ["complained"]
        case .unsubscribe: ["unsubscribed"]
        case .autoReply: ["autoresponded"]
        case .delivery, .efsFlag: []
        }
    }

    /// Whether the ledger's qualification is compatible with anymail's `reject_reason`.
    static func reasonAgrees(_ anymail: String, _ e: Event) -> Bool {
        let r = e.qualification?.reason
        switch anymail {
        case "invalid": return r == .userUnknown || r == .invalidDomain
        case "blocked": return r == .refused || r == .denylistedAddress || r == .addressInQuarantine
        case "spam": return e.kind == .complaint || r == .denylistedAddress || r == .refused
        case "timed_out": return e.kind == .timeout
        case "bounced": return e.kind == .bounce || e.kind == .timeout || r == .addressInQuarantine
        default: return true  // "other", "unsubscribed": no constraint on the reason
        }
    }

    /// The cases where the ledger differs from anymail, by provider folder and case, with the decision.
    static let decided: [String: String] = [
        // Trimmed samples without a time (or recipient): skipped, never appended with a guessed time.
        "anymail-amazon-ses/complaint_event.ses-notification.json": "type: no timestamp in the bare sample (the envelope form agrees)",
        "anymail-amazon-ses/multiple_bounce_event.ses-notification.json": "type: no timestamp in the bare sample (the envelope form agrees)",
        "anymail-mailgun/rejected_event.json": "type: no recipient in the sample",
        "anymail-mailgun/legacy_dropped_spam.json": "type: no timestamp in the sample",
        "anymail-mailgun/legacy_dropped_timed_out.json": "type: no timestamp in the sample",
        "anymail-mailgun/legacy_invalid_mailbox.json": "type: no timestamp in the sample",
        "anymail-mailgun/legacy_alt_smtp_code.json": "type: no timestamp in the sample",
        "anymail-postmark/bounce_unsubscribe_variant.json": "type: no recipient and no time in the sample",
        // Mapping decisions.
        "anymail-postmark/subscription_change_bounce.json": "type: a suppression after a hard bounce is not a new outcome (the Bounce record is)",
        "anymail-postal/queued_event.json": "type: MessageHeld is held, not relayed; skipped until MessageSent",
        "anymail-mailjet/bounced_greylist_event.json": "type: a Mailjet bounce is final; hard_bounce false makes it soft, not a deferral",
        "anymail-brevo/invalid_email.json": "type: Brevo refused to send to an invalid address: failed before relay, not a bounce",
    ]

    struct Row: CustomStringConvertible {
        var provider: String
        var cases = 0, typeAgrees = 0, reasonCases = 0, reasonAgrees = 0
        var description: String {
            "\(provider): event type \(typeAgrees)/\(cases), reject reason \(reasonAgrees)/\(reasonCases)"
        }
    }

    @Test("agreement per provider; every difference is a documented decision")
    func agreement() throws {
        let folder = Corpus.folder.appendingPathComponent("other")
        var rows: [Row] = []
        var differences: [String: String] = [:]
        for provider in try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() where provider.hasPrefix("anymail-") {
            var row = Row(provider: String(provider.dropFirst("anymail-".count)))
            let expectations = try JSONSerialization.jsonObject(with: try Data(contentsOf: folder.appendingPathComponent("\(provider)/expectations.anymail.json"))) as? [String: Any] ?? [:]
            for name in expectations.keys.sorted() {
                guard let entry = expectations[name] as? [String: Any], let normalized = entry["anymail_normalized"] as? [String: Any],
                      let files = entry["files"] as? [String] else { continue }
                let anymailType = normalized["event.event_type"] as? String ?? ""
                let anymailRecipient = normalized["event.recipient"] as? String
                let anymailReason = normalized["event.reject_reason"] as? String
                for file in files {
                    let key = "\(provider)/\(file)"
                    row.cases += 1
                    let parsed = try Corpus.read("other/\(provider)/\(file)")
                    // anymail names one recipient; the ledger's event for it (or the first).
                    let event = parsed.events.first { anymailRecipient == nil || $0.recipient == anymailRecipient } ?? parsed.events.first
                    guard let event, Self.anymailTypes(of: event).contains(anymailType) else {
                        differences[key] = "type: anymail \(anymailType), ledger \(event.map { "\($0.kind)\($0.beforeRelay ? " before relay" : "")" } ?? "skipped \(parsed.skipped)")"
                        continue
                    }
                    row.typeAgrees += 1
                    if let anymailReason {
                        row.reasonCases += 1
                        if Self.reasonAgrees(anymailReason, event) { row.reasonAgrees += 1 } else {
                            differences[key] = "reason: anymail \(anymailReason), ledger \(event.qualification.map { "\($0.type)/\($0.reason)" } ?? "none")"
                        }
                    }
                }
            }
            rows.append(row)
        }
        let report = rows.map(\.description).joined(separator: "\n")
        print("Agreement with anymail (expectations.anymail.json):\n\(report)\nDifferences:\n" + differences.keys.sorted().map { "  \($0): \(differences[$0]!)" }.joined(separator: "\n"))
        #expect(Set(differences.keys) == Set(Self.decided.keys), "\(differences)")
    }

    /// Mailgun's legacy samples that anymail trimmed of their timestamp, with one added (as every real
    /// legacy post has): the ledger's mapping then agrees with anymail's type and reason.
    @Test("Mailgun legacy samples with their timestamp: anymail's type and reason", arguments: [
        ("legacy_dropped_spam.json", EventKind.bounce, true, Qualification(.hard, .denylistedAddress)),  // anymail rejected / spam (code 607)
        ("legacy_dropped_timed_out.json", EventKind.timeout, false, Qualification(.soft, .unreachable)),  // anymail rejected / timed_out (reason old)
        ("legacy_invalid_mailbox.json", EventKind.bounce, false, Qualification(.hard, .userUnknown)),  // anymail bounced (550 5.1.1)
        ("legacy_alt_smtp_code.json", EventKind.bounce, false, Qualification(.hard, .userUnknown)),  // anymail bounced (code 5.1.1, 550 in error)
    ])
    func mailgunLegacyWithTimestamp(file: String, kind: EventKind, beforeRelay: Bool, q: Qualification) throws {
        var text = String(decoding: try Corpus.bytes("other/anymail-mailgun/\(file)"), as: UTF8.self)
        text = String(text.trimmingWhitespace.dropLast()) + #", "timestamp": "1461261330"}"#
        var options = IngestOptions()
        options.delivery = "legacy"
        let events = try FeedReader.read(Array(text.utf8), file: file, options: options).events
        try #require(events.count == 1)
        #expect(events[0].kind == kind && events[0].beforeRelay == beforeRelay && events[0].qualification == q)
        #expect(events[0].delivery == "legacy" && events[0].source == .mailgun)
    }

    @Test("Mailgun legacy, as really posted (application/x-www-form-urlencoded): the same event as the JSON form")
    func mailgunFormEncoded() throws {
        let json = try Corpus.read("other/anymail-mailgun/legacy_delivered_event.json").events
        let form = "domain=example.com&event=delivered&recipient=recipient%40example.com&timestamp=1461261330"
            + "&token=06c96bafc3f42a66b9edd546347a2fe18dc23461fe80dc52f0&Message-Id=%3C20160421175529.19495.89030.B3AE3728%40example.com%3E"
            + "&X-Mailgun-Sid=WyIxZmY4ZSIsICJtZWRtdW5kc0BnbWFpbC5jb20iLCAiZjFjNzgyIl0%3D\r\n"
        let parsed = try FeedReader.read(Array(form.utf8), file: "legacy.form", options: IngestOptions())
        #expect(parsed.format == .mailgun)
        try #require(parsed.events.count == 1 && json.count == 1)
        #expect(parsed.events[0].hasSameContent(as: json[0]))
        #expect(parsed.events[0].raw == Array(form.utf8), "the raw record is the body as posted")
        // A bad escape is named with its byte offset.
        let error = try #require(readError(Array("event=delivered&recipient=ann%4".utf8), options: IngestOptions(format: .mailgun)))
        #expect(error.offset == 29)
    }

    @Test("--delivery-key: a dotted path into the provider's event chooses the delivery id; missing is an error naming it")
    func deliveryKey() throws {
        let postmark = try Corpus.bytes("other/anymail-postmark/delivered_event.json")
        let parsed = try FeedReader.read(postmark, file: "p.json", options: IngestOptions(deliveryKey: "Metadata.cohort"))
        #expect(parsed.events.first?.delivery == "2014-08-A")
        let error = try #require(readError(postmark, options: IngestOptions(deliveryKey: "Metadata.campaign")))
        #expect(error.field == "Metadata.campaign")
        // SES: a bare name is a mail tag.
        let ses = try Corpus.bytes("other/amazon-ses-docs/event-publishing-send-record.json")
        #expect(try FeedReader.read(ses, file: "s.json", options: IngestOptions(deliveryKey: "myCustomTag1")).events.first?.delivery == "myCustomTagValue1")
        // SendGrid: a custom argument at the top level.
        let sendgrid = try Corpus.bytes("other/anymail-sendgrid/processed_event.json")
        #expect(try FeedReader.read(sendgrid, file: "g.json", options: IngestOptions(deliveryKey: "custom1")).events.first?.delivery == "value1")
    }
}
