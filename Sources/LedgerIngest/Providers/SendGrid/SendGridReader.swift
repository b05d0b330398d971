import DeliveryLedger

/// Reads SendGrid Event Webhook batches (internal).
///
/// Source: Twilio SendGrid, "Event Webhook Reference" (delivery events `processed`, `dropped`,
/// `deferred`, `bounce` with `type` `bounce` or `blocked`, `delivered`; engagement events `open`,
/// `click`, `spamreport`, `unsubscribe`, `group_unsubscribe`, `group_resubscribe`; fields `email`,
/// `timestamp` (epoch seconds), `sg_event_id`, `sg_message_id`, `category`, `reason`, `response`,
/// `status`, `attempt`, custom arguments at the top level).
///
/// | SendGrid `event` | ledger event |
/// |---|---|
/// | `processed` | `relay` |
/// | `delivered` | `delivered` (response `response`) |
/// | `deferred` | `retry` (response `response`, attempt `attempt`) |
/// | `bounce`, `type` `bounce` | `bounce`, final, in band; type and reason from the text rules on `reason` with `status` |
/// | `bounce`, `type` `blocked` | `bounce`, final, in band, **soft** (SendGrid: a block is a temporary refusal by the receiver); reason from the text rules |
/// | `dropped` | `bounce` before relay (SendGrid never tried): `reason` Bounced Address → hard, Address in quarantine; Unsubscribed Address, Spam Reporting Address → hard, Denylisted address; Invalid → hard, User unknown; Spam Content… → soft, Refused; other → Not defined |
/// | `spamreport` / `unsubscribe`, `group_unsubscribe` | `complaint` / `unsubscribe` |
/// | `open`, `click`, `group_resubscribe`, others | skipped |
///
/// Event id: `sg_event_id`. Delivery id: ``IngestOptions/deliveryKey`` (a custom argument is a
/// top-level field), else `category` (its first value when an array), else
/// ``IngestOptions/delivery``, else the `X-Message-Id` of the send (the part of `sg_message_id`
/// before its first `.`: one API request).
enum SendGridReader {
    static func drafts(_ f: FieldAccess, _ context: ProviderReader.Context) throws(IngestError) -> [ProviderReader.Draft] {
        guard let type = try f.string("event") else { throw f.fail("event", "missing: a SendGrid event needs an event name") }
        var d = ProviderReader.Draft(type: type, kind: nil, recipientField: "email", timeField: "timestamp", deliveryField: "category")
        let messageId = try f.string("sg_message_id")
        let category = try ProviderReader.text(atPath: "category", in: f)
        d.delivery = try ProviderReader.delivery(f, context, defaults: [category],
                                                 messageId: messageId.map { String($0.prefix { $0 != "." }) })
        d.recipient = try f.string("email")
        d.occurredAt = try f.instant("timestamp")
        d.id = try f.identifier("sg_event_id")
        let reason = try f.string("reason")
        let response = try f.string("response")
        let status = try f.string("status")
        switch type {
        case "processed": d.kind = .relay
        case "delivered":
            d.kind = .delivered
            d.response = response
            d.smtpCode = ProviderReader.replyCode(in: response)
        case "deferred":
            d.kind = .retry
            d.response = response ?? reason
            d.attempt = try f.int("attempt")
            d.smtpCode = ProviderReader.replyCode(in: d.response)
            d.enhancedStatus = d.response.flatMap(IngestRules.firstEnhancedStatus(in:)) ?? status.flatMap(IngestRules.firstEnhancedStatus(in:))
        case "bounce":
            d.kind = .bounce
            d.inBand = true
            d.response = reason ?? response
            d.smtpCode = ProviderReader.replyCode(in: d.response)
            d.enhancedStatus = d.response.flatMap(IngestRules.firstEnhancedStatus(in:)) ?? status.flatMap(IngestRules.firstEnhancedStatus(in:))
            if try f.string("type") == "blocked" {
                let r = TextQualifier.builtIn.qualify(text: d.response ?? "", enhancedStatus: d.enhancedStatus, replyCode: d.smtpCode)
                d.qualification = r.qualification.temporary
                d.qualifier = "sendgrid:blocked"
            }
        case "dropped":
            d.kind = .bounce
            d.beforeRelay = true
            d.response = reason
            d.qualification = droppedQualification(reason)
            d.qualifier = "sendgrid:dropped"
        case "spamreport": d.kind = .complaint
        case "unsubscribe", "group_unsubscribe": d.kind = .unsubscribe
        default: break  // open, click, group_resubscribe, and types unknown today
        }
        return [d]
    }

    /// The qualification of a `dropped` event from its documented `reason` (see the type's docs).
    static func droppedQualification(_ reason: String?) -> Qualification {
        let r = (reason ?? "").lowercased()
        if r.hasPrefix("bounced address") { return Qualification(.hard, .addressInQuarantine) }
        if r.hasPrefix("unsubscribed address") || r.hasPrefix("spam reporting address") { return Qualification(.hard, .denylistedAddress) }
        if r == "invalid" || r.hasPrefix("invalid address") { return Qualification(.hard, .userUnknown) }
        if r.hasPrefix("spam content") { return Qualification(.soft, .refused) }
        return Qualification(.notDefined, .notDefined)
    }
}
