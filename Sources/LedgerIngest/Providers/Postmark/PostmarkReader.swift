import DeliveryLedger

/// Reads Postmark webhooks (internal).
///
/// Sources: Postmark developer documentation, "Webhooks" (`RecordType` `Delivery`, `Bounce`,
/// `SpamComplaint`, `Open`, `Click`, `SubscriptionChange`) and "Bounce API: bounce types" (`Type`
/// and `TypeCode`).
///
/// | Postmark record | ledger event |
/// |---|---|
/// | `Delivery` | `delivered` (`Recipient`, `DeliveredAt`, response `Details`) |
/// | `Bounce` `HardBounce` | `bounce`, final, hard; reason from the text rules on `Details`, else User unknown |
/// | `Bounce` `SoftBounce`, `Blocked`, `SpamNotification`, `VirusNotification`, `DMARCPolicy` | `bounce`, final, soft (Unreachable from `SoftBounce` unless the text says more; Refused for the others) |
/// | `Bounce` `Transient` / `DnsError` | `retry` (Postmark keeps trying); `DnsError` Invalid domain |
/// | `Bounce` `BadEmailAddress` | `bounce` before relay, hard, User unknown |
/// | `Bounce` `ManuallyDeactivated` | `bounce` before relay, hard, Address in quarantine |
/// | `Bounce` `SMTPApiError`, `TemplateRenderingFailed` | `bounce` before relay, Not defined |
/// | `Bounce` `Unknown` | `bounce`, final, qualified by the text rules |
/// | `Bounce` `AutoResponder`, `AddressChange`, `ChallengeVerification` | `autoReply` |
/// | `Bounce` `Unsubscribe` / `SpamComplaint` record or bounce type | `unsubscribe` / `complaint` |
/// | `SubscriptionChange` with `SuppressSending` and `SuppressionReason` `ManualSuppression` / `SpamComplaint` | `unsubscribe` / `complaint` |
/// | `SubscriptionChange` `HardBounce`, reactivations, `Open`, `Click`, `Subscribe`, `Unconfirmed`, `OpenRelayTest`, `InboundError` | skipped (a suppression after a hard bounce is not a new outcome: the bounce arrives as its own `Bounce` record) |
///
/// Event id: `Bounce:<ID>` / `SpamComplaint:<ID>` (Postmark's bounce id); a delivery or a
/// subscription change, which has none, by its record type, `MessageID`, recipient and time.
/// Delivery id: ``IngestOptions/deliveryKey`` (e.g. `Metadata.campaign`), else `Tag`, else
/// ``IngestOptions/delivery``, else `MessageID`.
enum PostmarkReader {
    static func drafts(_ f: FieldAccess, _ context: ProviderReader.Context) throws(IngestError) -> [ProviderReader.Draft] {
        guard let record = try f.string("RecordType") else { throw f.fail("RecordType", "missing: not a Postmark webhook") }
        let bounceType = try f.string("Type")
        var d = ProviderReader.Draft(type: record == "Bounce" ? "Bounce \(bounceType ?? "")" : record, kind: nil,
                                     recipientField: f.member("Recipient") != nil ? "Recipient" : "Email", timeField: "BouncedAt", deliveryField: "Tag")
        let messageId = try f.identifier("MessageID")
        d.delivery = try ProviderReader.delivery(f, context, defaults: [try f.string("Tag")], messageId: messageId)
        let recipient = try f.string("Recipient"), email = try f.string("Email")
        d.recipient = recipient ?? email
        let details = try f.string("Details")
        let recordId = try f.identifier("ID")
        func keyed(_ time: Instant?) -> String { "\(record):\(messageId ?? ""):\(d.recipient ?? ""):\(time.map { String($0.millisecondsSinceEpoch) } ?? "")" }
        switch record {
        case "Delivery":
            d.kind = .delivered
            d.timeField = "DeliveredAt"
            d.occurredAt = try f.instant("DeliveredAt")
            d.response = details
            d.id = keyed(d.occurredAt)
        case "SpamComplaint":
            d.kind = .complaint
            d.occurredAt = try f.instant("BouncedAt")
            d.id = recordId.map { "SpamComplaint:\($0)" } ?? keyed(d.occurredAt)
        case "Bounce":
            d.occurredAt = try f.instant("BouncedAt")
            d.id = recordId.map { "Bounce:\($0)" } ?? keyed(d.occurredAt)
            d.response = details
            d.smtpCode = ProviderReader.replyCode(in: details)
            d.enhancedStatus = details.flatMap(IngestRules.firstEnhancedStatus(in:))
            let tag = "postmark:\(bounceType ?? "")"
            func fixed(_ kind: EventKind, _ q: Qualification?, beforeRelay: Bool = false) {
                d.kind = kind
                d.qualification = q
                d.qualifier = q == nil ? nil : tag
                d.beforeRelay = beforeRelay
            }
            func textReason(_ fallback: FailureReason) -> FailureReason {
                ProviderReader.textReason(details, enhancedStatus: d.enhancedStatus, smtpCode: d.smtpCode, fallback: fallback)
            }
            switch bounceType {
            case "HardBounce"?: fixed(.bounce, Qualification(.hard, textReason(.userUnknown)))
            case "SoftBounce"?: fixed(.bounce, Qualification(.soft, textReason(.unreachable)))
            case "Blocked"?, "SpamNotification"?, "VirusNotification"?, "DMARCPolicy"?: fixed(.bounce, Qualification(.soft, .refused))
            case "Transient"?: fixed(.retry, Qualification(.soft, textReason(.unreachable)))
            case "DnsError"?: fixed(.retry, Qualification(.soft, .invalidDomain))
            case "BadEmailAddress"?: fixed(.bounce, Qualification(.hard, .userUnknown), beforeRelay: true)
            case "ManuallyDeactivated"?: fixed(.bounce, Qualification(.hard, .addressInQuarantine), beforeRelay: true)
            case "SMTPApiError"?, "TemplateRenderingFailed"?: fixed(.bounce, Qualification(.notDefined, .notDefined), beforeRelay: true)
            case "Unknown"?: fixed(.bounce, nil)
            case "AutoResponder"?, "AddressChange"?, "ChallengeVerification"?: d.kind = .autoReply
            case "Unsubscribe"?: d.kind = .unsubscribe
            case "SpamComplaint"?: d.kind = .complaint
            default: break  // Subscribe, Unconfirmed, OpenRelayTest, InboundError, types unknown today
            }
        case "SubscriptionChange":
            d.timeField = "ChangedAt"
            d.occurredAt = try f.instant("ChangedAt")
            d.id = keyed(d.occurredAt)
            let reason = try f.string("SuppressionReason")
            d.type = "SubscriptionChange \(reason ?? "")"
            d.documentedType = "SubscriptionChange"
            if try f.bool("SuppressSending") == true {
                switch reason {
                case "ManualSuppression"?: d.kind = .unsubscribe
                case "SpamComplaint"?: d.kind = .complaint
                default: break
                }
            } else {
                d.skipReason = "SubscriptionChange reactivation"
            }
        default: break  // Open, Click, types unknown today
        }
        return [d]
    }
}
