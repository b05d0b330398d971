import DeliveryLedger

/// Reads Brevo (formerly Sendinblue) transactional email webhooks (internal).
///
/// Source: Brevo developer documentation, "Transactional webhooks" (events `request`, `delivered`,
/// `soft_bounce`, `hard_bounce`, `deferred`, `blocked`, `invalid_email`, `error`, `spam`,
/// `complaint`, `unsubscribed`, `opened`, `unique_opened`, `proxy_open`, `click`; fields `email`,
/// `message-id`, `ts_epoch` (epoch milliseconds), `ts_event` (epoch seconds), `reason`, `tag`, `tags`),
/// and "Marketing webhooks" (a campaign's events: `camp_id`, `ts_sent`, `ts_event`, no `message-id`;
/// `unsubscribe` for `unsubscribed`).
///
/// | Brevo `event` | ledger event |
/// |---|---|
/// | `request` | `relay` |
/// | `delivered` | `delivered` |
/// | `hard_bounce` | `bounce`, final, hard; reason from the text rules on `reason` |
/// | `soft_bounce` | `bounce`, final, soft; reason from the text rules (Unreachable without) — a soft failure until a later `delivered` |
/// | `deferred` | `retry` (the text rules, never hard) |
/// | `blocked` | `bounce` before relay, hard, Denylisted address (Brevo refused to send to a blocked contact) |
/// | `invalid_email` | `bounce` before relay, hard, User unknown |
/// | `error` | `bounce` before relay, Not defined |
/// | `spam`, `complaint` / `unsubscribed` | `complaint` / `unsubscribe` |
/// | `opened`, `unique_opened`, `proxy_open`, `click`, others | skipped |
///
/// Brevo's events may arrive out of order (a bounce before its `request`): the projection orders a
/// message's events by their time, and a `relay` never undoes an outcome. Brevo sends no event id
/// (`id` is the webhook's): the event id is the event, `message-id`, `email` and `ts_epoch` (else
/// `ts_event`, `ts`). Time: `ts_epoch`, else `ts_event`, else `ts` (`date` has no offset and is not
/// read). Delivery id: ``IngestOptions/deliveryKey``, else the first of `tags`, else `tag` (the
/// first element when it holds a JSON array), else the marketing campaign's `camp_id`, else
/// ``IngestOptions/delivery``, else `message-id`.
enum BrevoReader {
    static func drafts(_ f: FieldAccess, _ context: ProviderReader.Context) throws(IngestError) -> [ProviderReader.Draft] {
        guard let type = try f.string("event") else { throw f.fail("event", "missing: a Brevo event needs its name") }
        let timeField = ["ts_epoch", "ts_event", "ts"].first { f.value($0) != nil } ?? "ts_epoch"
        var d = ProviderReader.Draft(type: type, kind: nil, recipientField: "email", timeField: timeField, deliveryField: "tags")
        let messageId = try f.string("message-id")
        var tag = try f.string("tag")
        if let t = tag, t.hasPrefix("["), case .array(let items)? = try? JSONValue.parse(Array(t.utf8)[...]), case .string(let first)? = items.first {
            tag = first
        }
        d.delivery = try ProviderReader.delivery(f, context, defaults: [try ProviderReader.text(atPath: "tags", in: f), tag, try ProviderReader.text(atPath: "camp_id", in: f)],
                                                 messageId: messageId)
        d.recipient = try f.string("email")
        d.occurredAt = try f.instant(timeField)
        if let time = d.occurredAt { d.id = "\(type):\(messageId ?? ""):\(d.recipient ?? ""):\(time.millisecondsSinceEpoch)" }
        let reason = try f.string("reason")?.trimmingWhitespace
        d.response = reason
        d.smtpCode = ProviderReader.replyCode(in: reason) ?? firstReplyCode(in: reason)
        d.enhancedStatus = reason.flatMap(IngestRules.firstEnhancedStatus(in:))
        func textReason(_ fallback: FailureReason) -> FailureReason {
            ProviderReader.textReason(reason, enhancedStatus: d.enhancedStatus, smtpCode: d.smtpCode, fallback: fallback)
        }
        switch type {
        case "request": d.kind = .relay
        case "delivered": d.kind = .delivered
        case "hard_bounce":
            d.kind = .bounce
            d.qualification = Qualification(.hard, textReason(.notDefined))
            d.qualifier = "brevo:hard_bounce"
        case "soft_bounce":
            d.kind = .bounce
            d.qualification = Qualification(.soft, textReason(.unreachable))
            d.qualifier = "brevo:soft_bounce"
        case "deferred": d.kind = .retry
        case "blocked":
            d.kind = .bounce
            d.beforeRelay = true
            d.qualification = Qualification(.hard, .denylistedAddress)
            d.qualifier = "brevo:blocked"
        case "invalid_email":
            d.kind = .bounce
            d.beforeRelay = true
            d.qualification = Qualification(.hard, .userUnknown)
            d.qualifier = "brevo:invalid_email"
        case "error":
            d.kind = .bounce
            d.beforeRelay = true
            d.qualification = Qualification(.notDefined, .notDefined)
            d.qualifier = "brevo:error"
        case "spam", "complaint": d.kind = .complaint
        case "unsubscribed", "unsubscribe": d.kind = .unsubscribe
        default: break
        }
        return [d]
    }

    /// The first three-digit reply code (2xx–5xx) standing as a word in `text` (Brevo writes
    /// `RecipientError: 550 5.1.1 …`).
    static func firstReplyCode(in text: String?) -> Int? {
        guard let text else { return nil }
        for word in text.split(whereSeparator: { $0 == " " || $0 == ":" || $0 == ";" }) where word.count == 3 {
            if let n = Int(word), (200...599).contains(n) { return n }
        }
        return nil
    }
}
