import DeliveryLedger

/// Reads Postal webhooks (internal).
///
/// Source: Postal documentation, "Webhooks" and "Webhook events" (`MessageSent`, `MessageDelayed`,
/// `MessageDeliveryFailed`, `MessageHeld` with `payload.status` `Sent`, `SoftFail`, `HardFail`,
/// `Held` and `payload.message`, `.details`, `.output`, `.timestamp`; `MessageBounced` with
/// `payload.original_message` and `payload.bounce`; `MessageLinkClicked`, `MessageLoaded`,
/// `DomainDNSError`, `SendLimitApproaching`, `SendLimitExceeded`).
///
/// | Postal event (status) | ledger event |
/// |---|---|
/// | `MessageSent` (`Sent`) | `delivered` (response `output`) |
/// | `MessageDelayed` (`SoftFail`) | `retry` (the text rules on `output`, else `details`; never hard) |
/// | `MessageDeliveryFailed` (`HardFail`) | `bounce`, final, in band; the text rules on `output`, else `details` |
/// | a payload with `original_message` and `bounce` (`MessageBounced`) | `bounce`, final, asynchronous; the text rules (a bounce message Postal received; Not defined without text) |
/// | `MessageHeld` (`Held`) | skipped: held for review, not sent; a `MessageSent` follows if it is released |
/// | `MessageLinkClicked`, `MessageLoaded`, `DomainDNSError`, `SendLimit*`, others | skipped |
/// | any status event whose `message.direction` is `incoming` | skipped as inbound relay: Postal sends the status events for mail it receives too, and those are not the sender's deliveries |
///
/// The status decides when it disagrees with the event name (`SoftFail` is a retry, `HardFail` a
/// final bounce, `Sent` a delivery). Event id: the event name and the webhook's `uuid` (Postal
/// re-sends a failed webhook with the same uuid). Time: `payload.timestamp`, else `timestamp`.
/// Recipient: `payload.message.to` (`payload.original_message.to` for a bounce). Delivery id:
/// ``IngestOptions/deliveryKey`` (a path from the top, e.g. `payload.message.tag`), else the
/// message's `tag`, else ``IngestOptions/delivery``, else the message's `message_id`.
enum PostalReader {
    static func drafts(_ f: FieldAccess, _ context: ProviderReader.Context) throws(IngestError) -> [ProviderReader.Draft] {
        guard let event = try f.string("event") else { throw f.fail("event", "missing: a Postal webhook needs its event name") }
        guard let payload = try ProviderReader.object("payload", in: f) else { throw f.fail("payload", "missing: a Postal webhook needs its payload") }
        let isBounce = payload.member("original_message") != nil && payload.member("bounce") != nil
        let messageKey = isBounce ? "original_message" : "message"
        let message = try ProviderReader.object(messageKey, in: payload, prefix: "payload")
        var d = ProviderReader.Draft(type: event, kind: nil, recipientField: "payload.\(messageKey).to", timeField: "payload.timestamp",
                                     deliveryField: "payload.\(messageKey).tag")
        d.delivery = try ProviderReader.delivery(f, context, defaults: [try message?.string("tag")], messageId: try message?.string("message_id"))
        d.recipient = try message?.string("to")
        let payloadTime = try payload.instant("timestamp"), webhookTime = try f.instant("timestamp")
        d.occurredAt = payloadTime ?? webhookTime
        d.id = try f.string("uuid").map { "\(event):\($0)" }
        let output = try payload.string("output")
        let details = try payload.string("details")
        let text = [output, details].compactMap { $0 }.first { !$0.trimmingWhitespace.isEmpty }
        if try message?.string("direction") == "incoming" {
            d.skipReason = "inbound relay"
            return [d]
        }
        if isBounce {
            d.type = "MessageBounced"
            d.kind = .bounce
            d.inBand = false
            return [d]
        }
        switch try payload.string("status") {
        case "Sent"?:
            d.kind = .delivered
            d.response = output ?? details
        case "SoftFail"?:
            d.kind = .retry
            d.response = text
        case "HardFail"?:
            d.kind = .bounce
            d.inBand = true
            d.response = text
        case "Held"?:
            d.skipReason = "MessageHeld"
        default: break
        }
        d.smtpCode = ProviderReader.replyCode(in: d.response)
        d.enhancedStatus = d.response.flatMap(IngestRules.firstEnhancedStatus(in:))
        return [d]
    }
}
