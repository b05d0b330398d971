import DeliveryLedger

/// Reads Mailjet Event API webhooks, grouped (an array) or one event per request (internal).
///
/// Source: Mailjet developer documentation, "Event API: real-time notifications" (events `sent`,
/// `open`, `click`, `bounce`, `blocked`, `spam`, `unsub`; fields `time` (epoch seconds),
/// `MessageID`, `Message_GUID`, `email`, `mj_campaign_id`, `customcampaign`, `smtp_reply`,
/// `hard_bounce`, `blocked`, `error_related_to`, `error`) and its error table.
///
/// | Mailjet `event` | ledger event |
/// |---|---|
/// | `sent` | `delivered` (Mailjet sends it when the receiving server accepted the message; response `smtp_reply`) |
/// | `bounce`, `hard_bounce` true | `bounce`, final, hard; reason from `error` |
/// | `bounce`, `hard_bounce` false | `bounce`, final, soft; reason from `error` (greylisted → Unreachable) |
/// | `blocked` | `bounce` before relay (Mailjet did not send); reason from `error` |
/// | `spam` / `unsub` | `complaint` / `unsubscribe` |
/// | `open`, `click`, others | skipped |
///
/// `error` (Mailjet's error table): user unknown → User unknown (hard); mailbox inactive → Account
/// disabled (hard); quota exceeded → Mailbox full (soft); invalid domain, no mail host → Invalid
/// domain; typofix → User unknown (hard: Mailjet found the address mistyped); spam reporter,
/// blacklisted → Denylisted address (hard); preblocked → Address in quarantine (hard); greylisted,
/// connection issue, system issue, protocol issue → Unreachable (soft); relay/access denied, sender
/// blocked, content blocked, policy issue → Refused (soft); duplicate in campaign → Ignored; other →
/// Not defined. On a `bounce`, `hard_bounce` decides the type whatever the table says.
///
/// Mailjet sends no event id: the event id is the event, `MessageID` (else `Message_GUID`), `email`
/// and `time`. Delivery id: ``IngestOptions/deliveryKey``, else `customcampaign` (the
/// `X-Mailjet-Campaign` header), else `mj_campaign_id` when not 0, else ``IngestOptions/delivery``,
/// else `MessageID`.
enum MailjetReader {
    static func drafts(_ f: FieldAccess, _ context: ProviderReader.Context) throws(IngestError) -> [ProviderReader.Draft] {
        guard let type = try f.string("event") else { throw f.fail("event", "missing: a Mailjet event needs its name") }
        var d = ProviderReader.Draft(type: type, kind: nil, recipientField: "email", timeField: "time", deliveryField: "customcampaign")
        let numericId = try f.identifier("MessageID"), guid = try f.identifier("Message_GUID")
        let messageId = numericId ?? guid
        let campaign = try f.identifier("mj_campaign_id")
        d.delivery = try ProviderReader.delivery(f, context, defaults: [try f.string("customcampaign"), campaign == "0" ? nil : campaign],
                                                 messageId: messageId)
        d.recipient = try f.string("email")
        d.occurredAt = try f.instant("time")
        if let time = d.occurredAt { d.id = "\(type):\(messageId ?? ""):\(d.recipient ?? ""):\(time.millisecondsSinceEpoch)" }
        let error = try f.string("error")
        let related = try f.string("error_related_to")
        switch type {
        case "sent":
            d.kind = .delivered
            d.response = try f.string("smtp_reply")
            d.smtpCode = BrevoReader.firstReplyCode(in: d.response)
        case "bounce":
            d.kind = .bounce
            d.response = [related, error].compactMap { $0 }.joined(separator: ": ")
            var q = errorQualification(error)
            q.type = try f.bool("hard_bounce") == true ? .hard : (q.type == .ignored ? .ignored : .soft)
            d.qualification = q
            d.qualifier = "mailjet:\(error ?? "")"
        case "blocked":
            d.kind = .bounce
            d.beforeRelay = true
            d.response = [related, error].compactMap { $0 }.joined(separator: ": ")
            d.qualification = errorQualification(error)
            d.qualifier = "mailjet:\(error ?? "")"
        case "spam": d.kind = .complaint
        case "unsub": d.kind = .unsubscribe
        default: break
        }
        return [d]
    }

    /// Mailjet's `error` value → qualification (see the type's docs).
    static func errorQualification(_ error: String?) -> Qualification {
        switch (error ?? "").lowercased() {
        case "user unknown", "typofix": Qualification(.hard, .userUnknown)
        case "mailbox inactive": Qualification(.hard, .accountDisabled)
        case "quota exceeded": Qualification(.soft, .mailboxFull)
        case "invalid domain", "no mail host": Qualification(.hard, .invalidDomain)
        case "spam reporter", "blacklisted": Qualification(.hard, .denylistedAddress)
        case "preblocked": Qualification(.hard, .addressInQuarantine)
        case "greylisted", "connection issue", "system issue", "protocol issue": Qualification(.soft, .unreachable)
        case "relay/access denied", "sender blocked", "content blocked", "policy issue": Qualification(.soft, .refused)
        case "duplicate in campaign": Qualification(.ignored, .errorIgnored)
        default: Qualification(.notDefined, .notDefined)
        }
    }
}
