import DeliveryLedger

/// Reads Mailgun webhooks: the JSON body `{"signature": {…}, "event-data": {…}}` of today's
/// webhooks, and the legacy webhooks' fields (form-encoded, decoded by ``FormBody``, or the same
/// fields as a JSON object) (internal).
///
/// Sources: Mailgun documentation, "Webhooks" and "Events" (event `accepted`, `rejected`,
/// `delivered`, `failed` with `severity` `permanent`/`temporary` and `reason` `bounce`, `generic`,
/// `greylisted`, `old`, `suppress-bounce`, `suppress-unsubscribe`, `suppress-complaint`;
/// `delivery-status.code`, `.message`, `.description`, `.attempt-no`); legacy "Tracking Deliveries /
/// Failures / Spam Complaints" (events `delivered`, `bounced`, `dropped` with `reason` `hardfail`,
/// `maxfails`, `old` and Mailgun's codes 605 previously bounced, 606 unsubscribed, 607 complained).
///
/// | Mailgun event | ledger event |
/// |---|---|
/// | `accepted` | `relay` |
/// | `delivered` | `delivered` |
/// | `failed`, severity `permanent` | `bounce`, final — before relay, hard, Address in quarantine for `suppress-bounce` (or code 605 without a reason); Denylisted address for `suppress-unsubscribe`, `suppress-complaint` (codes 606, 607); `timeout` for `old` (Mailgun stopped retrying); otherwise the text rules on `delivery-status`, with Mailgun's `delivery-status.bounce-type` (`hard`/`soft`) as the failure type when given (the reason from the text rules) |
/// | `failed`, severity `temporary` | `retry` (the text rules, never hard) |
/// | `rejected` | `bounce` before relay, Not defined (Mailgun refused to send) |
/// | `complained` / `unsubscribed` | `complaint` / `unsubscribe` |
/// | legacy `bounced` | `bounce`, final, in band; the text rules on `error` (`code` as the reply code when it is one) |
/// | legacy `dropped` | `hardfail`: before relay — code 605 hard Address in quarantine, 606/607 hard Denylisted address, else the text rules on `description`; `maxfails`, `old`: `timeout` (retries exhausted) |
/// | `opened`, `clicked`, `stored`, others | skipped |
///
/// The SMTP text is `delivery-status.message` (else `.description`), the reply code
/// `delivery-status.code` when it is one (200–599: Mailgun puts its own codes there too — 0 on a
/// delivery without SMTP, 605/606/607 for its suppressions — and those are not SMTP replies).
/// The webhook's `event-data` object may also come alone (the shape of Mailgun's "Webhook
/// Payloads" page and of its Events API items): an object with `event` and an `id`, `log-level`,
/// `message` or `delivery-status` object is read as current, not legacy. In `tags`, `*` (Mailgun's
/// "every tag": an unsubscribe from all mail) names no delivery. Event id: `event-data.id` (without one:
/// the event, severity, message id, recipient and timestamp — never a hash of the body, whose
/// signature block changes at each resend); legacy: the event, `Message-Id`, recipient
/// and timestamp (the legacy `token` is per request, not per event). Delivery id:
/// ``IngestOptions/deliveryKey`` (a path in `event-data`, e.g. `user-variables.campaign`), else the
/// first of `event-data.tags` (legacy `X-Mailgun-Tag`, `tag`), else ``IngestOptions/delivery``, else
/// the message's `Message-Id`.
enum MailgunReader {
    static func drafts(_ top: FieldAccess, _ context: ProviderReader.Context) throws(IngestError) -> [ProviderReader.Draft] {
        if let data = try ProviderReader.object("event-data", in: top) { return try current(data, context) }
        if top.member("event") != nil { return try isCurrentShape(top) ? current(top, context) : legacy(top, context) }
        throw top.fail("event-data", "missing: not a Mailgun webhook (no event-data, no legacy event field)")
    }

    /// Whether a body without `event-data` has the current webhooks' fields (the event data alone)
    /// rather than the legacy ones: `log-level`, or `id` without the legacy `Message-Id`, or
    /// `message` / `delivery-status` as objects (legacy bodies are flat, string-valued).
    static func isCurrentShape(_ top: FieldAccess) throws(IngestError) -> Bool {
        if top.member("log-level") != nil { return true }
        if top.member("id") != nil, top.member("Message-Id") == nil, top.member("message-id") == nil { return true }
        for name in ["message", "delivery-status"] {
            if let m = top.member(name), top.document.members(m.value) != nil { return true }
        }
        return false
    }

    static func current(_ f: FieldAccess, _ context: ProviderReader.Context) throws(IngestError) -> [ProviderReader.Draft] {
        guard let type = try f.string("event") else { throw f.fail("event", "missing: a Mailgun event needs its name") }
        var d = ProviderReader.Draft(type: type, kind: nil, recipientField: "event-data.recipient", timeField: "event-data.timestamp",
                                     deliveryField: "event-data.tags")
        let headers = try ProviderReader.object("message", in: f).flatMap { m throws(IngestError) in try ProviderReader.object("headers", in: m, prefix: "message") }
        let messageId = try headers?.string("message-id")
        let tag: String?
        if let m = f.member("tags"), let elements = f.document.elements(m.value) {
            tag = elements.lazy.compactMap { e -> String? in
                if case .string(let t) = f.document.value(e), !t.isEmpty, t != "*" { return t }
                return nil
            }.first
        } else {
            tag = try ProviderReader.text(atPath: "tags", in: f)
        }
        d.delivery = try ProviderReader.delivery(f, context, defaults: [tag], messageId: messageId)
        d.recipient = try f.string("recipient")
        d.occurredAt = try f.instant("timestamp")
        d.id = try f.identifier("id")
        if d.id?.isEmpty ?? true, let time = d.occurredAt {
            // No event id (anymail's samples, some test payloads): what identifies the event — not a
            // hash of the body, whose signature block changes with every resend.
            d.id = "\(type):\(try f.string("severity") ?? ""):\(messageId ?? ""):\(d.recipient ?? ""):\(time.millisecondsSinceEpoch)"
        }
        let status = try ProviderReader.object("delivery-status", in: f)
        let message = try status?.string("message")
        let description = try status?.string("description")
        d.response = [message, description].compactMap { $0 }.first { !$0.trimmingWhitespace.isEmpty }
        let code = try status?.int("code")
        d.smtpCode = code.flatMap { (200...599).contains($0) ? $0 : nil } ?? ProviderReader.replyCode(in: d.response)
        d.attempt = try status?.int("attempt-no")
        d.enhancedStatus = d.response.flatMap(IngestRules.firstEnhancedStatus(in:))
        switch type {
        case "accepted": d.kind = .relay
        case "delivered": d.kind = .delivered
        case "failed":
            let severity = try f.string("severity")
            let reason = try f.string("reason")
            if severity == "temporary" {
                d.kind = .retry
            } else {
                d.kind = .bounce
                switch (reason, code) {
                case ("suppress-bounce"?, _), (nil, 605?):
                    d.beforeRelay = true; d.qualification = Qualification(.hard, .addressInQuarantine)
                case ("suppress-unsubscribe"?, _), ("suppress-complaint"?, _), (nil, 606?), (nil, 607?):
                    d.beforeRelay = true; d.qualification = Qualification(.hard, .denylistedAddress)
                case ("old"?, _): d.kind = .timeout
                default:
                    // Mailgun's own hard/soft class of the bounce, when it gives one; the reason
                    // stays the text rules' (re-qualified by a new rule table only for the reason).
                    switch try status?.string("bounce-type")?.lowercased() {
                    case "hard"?:
                        d.qualification = Qualification(.hard, ProviderReader.textReason(d.response, enhancedStatus: d.enhancedStatus, smtpCode: d.smtpCode, fallback: .notDefined))
                        d.qualifier = "mailgun:bounce-type hard"
                    case "soft"?:
                        d.qualification = Qualification(.soft, ProviderReader.textReason(d.response, enhancedStatus: d.enhancedStatus, smtpCode: d.smtpCode, fallback: .notDefined))
                        d.qualifier = "mailgun:bounce-type soft"
                    default: break
                    }
                }
                if d.qualification != nil, d.qualifier == nil { d.qualifier = "mailgun:\(reason ?? code.map(String.init) ?? "")" }
            }
        case "rejected":
            d.kind = .bounce
            d.beforeRelay = true
            let reject = try ProviderReader.object("reject", in: f)
            let rejectReason = try reject?.string("reason"), rejectDescription = try reject?.string("description")
            d.response = rejectReason ?? rejectDescription
            d.qualification = Qualification(.notDefined, .notDefined)
            d.qualifier = "mailgun:rejected"
        case "complained": d.kind = .complaint
        case "unsubscribed": d.kind = .unsubscribe
        default: break
        }
        return [d]
    }

    static func legacy(_ f: FieldAccess, _ context: ProviderReader.Context) throws(IngestError) -> [ProviderReader.Draft] {
        guard let type = try f.string("event") else { throw f.fail("event", "missing: a Mailgun event needs its name") }
        var d = ProviderReader.Draft(type: type, kind: nil, recipientField: "recipient", timeField: "timestamp", deliveryField: "X-Mailgun-Tag")
        let messageId = try f.string("Message-Id")
        d.delivery = try ProviderReader.delivery(f, context, defaults: [try f.string("X-Mailgun-Tag"), try f.string("tag")], messageId: messageId)
        d.recipient = try f.string("recipient")
        d.occurredAt = try f.instant("timestamp")
        if let time = d.occurredAt {
            d.id = "\(type):\(messageId ?? ""):\(d.recipient ?? ""):\(time.millisecondsSinceEpoch)"
        }
        let code = try f.string("code")
        let numericCode = code.flatMap { Int($0) }
        switch type {
        case "delivered": d.kind = .delivered
        case "bounced":
            d.kind = .bounce
            d.inBand = true
            d.response = try f.string("error")
            d.smtpCode = numericCode.flatMap { (200...599).contains($0) ? $0 : nil } ?? ProviderReader.replyCode(in: d.response)
            d.enhancedStatus = d.response.flatMap(IngestRules.firstEnhancedStatus(in:)) ?? code.flatMap(IngestRules.firstEnhancedStatus(in:))
        case "dropped":
            let description = try f.string("description"), error = try f.string("error")
            d.response = description ?? error
            d.enhancedStatus = d.response.flatMap(IngestRules.firstEnhancedStatus(in:))
            let reason = try f.string("reason")
            if reason == "old" || reason == "maxfails" {
                d.kind = .timeout
                d.smtpCode = numericCode.flatMap { (400...599).contains($0) ? $0 : nil }
            } else {
                d.kind = .bounce
                d.beforeRelay = true
                switch numericCode {
                case 605?: d.qualification = Qualification(.hard, .addressInQuarantine)
                case 606?, 607?: d.qualification = Qualification(.hard, .denylistedAddress)
                default: d.smtpCode = numericCode.flatMap { (400...599).contains($0) ? $0 : nil }
                }
                if d.qualification != nil { d.qualifier = "mailgun:dropped \(code ?? "")" }
            }
        case "complained": d.kind = .complaint
        case "unsubscribed": d.kind = .unsubscribe
        default: break
        }
        return [d]
    }
}
