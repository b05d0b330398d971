import DeliveryLedger

/// Reads Amazon SES notifications (`notificationType`) and configuration-set event-publishing
/// records (`eventType`), bare or in the Amazon SNS envelope that SNS POSTs (internal).
///
/// Sources: Amazon SES Developer Guide, "Amazon SNS notification contents for Amazon SES"
/// (notification-contents) and "Contents of event data that Amazon SES publishes to Amazon SNS"
/// (event-publishing-retrieving-sns-contents); Amazon SNS Developer Guide, "Parsing message formats"
/// (the envelope: `Type`, `MessageId`, `Message`, `Timestamp`).
///
/// | SES type | ledger event |
/// |---|---|
/// | `Send` | `relay` for each `mail.destination` |
/// | `Delivery` | `delivered` for each `delivery.recipients`; response `smtpResponse` |
/// | `Bounce` | per `bouncedRecipients[]`: `action` `failed` → `bounce` (final), `delayed` → `retry`, `delivered`/`relayed`/`expanded` → skipped; without an `action`, the notification's `bounceType` decides (Permanent, Transient, Undetermined → `bounce`, final: SES sends a bounce notification only once it stops trying) |
/// | `Complaint` | `complaint` for each `complainedRecipients[]`; with `complaintSubType` `OnAccountSuppressionList` (SES accepted the message but did not send it: the address is on the account's suppression list), a `bounce` before relay, hard, Denylisted address |
/// | `Reject` | `bounce` before relay for each destination (SES refused to send: virus), soft, Refused |
/// | `DeliveryDelay` | `retry` for each `delayedRecipients[]`: the text rules on `diagnosticCode`; without one, `delayType` gives the reason (MailboxFull → Mailbox full; SpamDetected, IPFailure → Refused; RecipientServerError, TransientCommunicationFailure, BYOIPHostNameLookupUnavailable → Unreachable; others Not defined), soft |
/// | `Rendering Failure` | `bounce` before relay for each destination, Not defined |
/// | `Open`, `Click`, `Subscription`, SNS `SubscriptionConfirmation` … | skipped |
///
/// Failure type and reason of a final bounce (the per-recipient `action` decides *whether* it is
/// final; `bounceType`/`bounceSubType` the type):
/// - Permanent/NoEmail → hard, User unknown; Permanent/Suppressed and OnAccountSuppressionList →
///   hard, Address in quarantine, before relay (SES does not send to a suppressed address);
///   Permanent/General → hard, the reason from the text rules on `diagnosticCode` (Not defined without);
/// - Transient/MailboxFull → soft, Mailbox full; Transient/MessageTooLarge, ContentRejected,
///   AttachmentRejected → soft, Refused; Transient/General → soft, the reason from the text rules
///   (Unreachable without);
/// - Undetermined → the text rules on `diagnosticCode` (re-qualified by re-projection);
/// - a recipient whose `status` is a 4.x.x code, or whose action is `delayed`, is never hard.
///
/// Delivery id: `mail.tags.<key>` or the dotted path of ``IngestOptions/deliveryKey``, else the
/// tag `ses:configuration-set` (event publishing), else ``IngestOptions/delivery``, else
/// `mail.messageId`. Event id: `ses:<type>:<mail.messageId>:<feedbackId or time>:<recipient>`, so
/// the same notification delivered bare or in its envelope, or posted again, is one event. Time: the
/// event object's `timestamp`, else (Send, Reject, Rendering Failure) `mail.timestamp`, else the SNS
/// envelope's `Timestamp`.
enum SESReader {
    static func drafts(_ top: FieldAccess, _ context: ProviderReader.Context) throws(IngestError) -> [ProviderReader.Draft] {
        var f = top
        var envelopeTime: Instant? = nil
        if let snsType = try top.string("Type"), top.member("TopicArn") != nil || top.member("Message") != nil {
            guard snsType == "Notification" else {
                var d = ProviderReader.Draft(type: "SNS \(snsType)", kind: nil, recipientField: "", timeField: "", deliveryField: "")
                d.skipReason = "SNS \(snsType)"
                return [d]
            }
            guard let message = try top.string("Message") else { throw top.fail("Message", "missing: an SNS notification carries the SES message in Message") }
            let bytes = Array(message.utf8)
            let doc: JSONDocument
            do { doc = try JSONDocument(validating: bytes[...], options: .records) } catch {
                throw top.fail("Message", "not JSON at byte \(error.offset) of the message: \(error.message)")
            }
            guard let members = doc.members(doc.root) else { throw top.fail("Message", "expected a JSON object (an SES notification)") }
            let parent = top.fail
            f = FieldAccess(document: doc, members: members, fail: { field, m in parent(field.map { "Message.\($0)" } ?? "Message", m) },
                            numbersAsStrings: true)
            envelopeTime = try top.instant("Timestamp")
        }
        let notificationType = try f.string("notificationType"), eventType = try f.string("eventType")
        guard let type = notificationType ?? eventType else {
            throw f.fail("notificationType", "missing: not an SES notification (no notificationType or eventType)")
        }
        let mail = try ProviderReader.object("mail", in: f)
        let messageId = try mail?.string("messageId")
        let destinations = try mail.map { m throws(IngestError) in try ProviderReader.strings("destination", in: m) } ?? []

        // Delivery id (see the type's docs).
        var delivery: String?
        if let key = context.options.deliveryKey, !key.isEmpty, !key.contains("."),
           let tags = try mail.flatMap({ m throws(IngestError) in try ProviderReader.object("tags", in: m, prefix: "mail") }),
           let tag = try ProviderReader.text(atPath: key, in: tags) {
            delivery = tag
        } else {
            let tags = try mail.flatMap { m throws(IngestError) in try ProviderReader.object("tags", in: m, prefix: "mail") }
            let configurationSet = try tags.flatMap { t throws(IngestError) in try ProviderReader.text(atPath: "ses:configuration-set", in: t) }
            delivery = try ProviderReader.delivery(f, context, defaults: [configurationSet], messageId: messageId)
        }

        func draft(_ kind: EventKind?, _ recipient: String?, field: String, time: Instant?, timeField: String, key: String?) -> ProviderReader.Draft {
            var d = ProviderReader.Draft(type: type, kind: kind, recipientField: field, timeField: timeField, deliveryField: "mail.messageId")
            d.recipient = recipient
            d.occurredAt = time ?? envelopeTime
            d.delivery = delivery
            let stamp = key ?? d.occurredAt.map { String($0.millisecondsSinceEpoch) } ?? ""
            d.id = "\(type):\(messageId ?? ""):\(stamp):\(recipient.flatMap(Address.normalize) ?? recipient ?? "")"
            return d
        }

        switch type {
        case "Send":
            let time = try mail?.instant("timestamp")
            return destinations.map { draft(.relay, $0, field: "mail.destination", time: time, timeField: "mail.timestamp", key: nil) }
        case "Delivery":
            guard let o = try ProviderReader.object("delivery", in: f) else { throw f.fail("delivery", "missing: a Delivery notification needs its delivery object") }
            let time = try o.instant("timestamp")
            let response = try o.string("smtpResponse")
            return try ProviderReader.strings("recipients", in: o).map {
                var d = draft(.delivered, $0, field: "delivery.recipients", time: time, timeField: "delivery.timestamp", key: nil)
                d.response = response
                d.smtpCode = ProviderReader.replyCode(in: response)
                return d
            }
        case "Bounce":
            guard let o = try ProviderReader.object("bounce", in: f) else { throw f.fail("bounce", "missing: a Bounce notification needs its bounce object") }
            let time = try o.instant("timestamp")
            let bounceType = try o.string("bounceType") ?? "Undetermined"
            let subType = try o.string("bounceSubType") ?? "Undetermined"
            let feedbackId = try o.string("feedbackId")
            var out: [ProviderReader.Draft] = []
            for (n, element) in try ProviderReader.array("bouncedRecipients", in: o).enumerated() {
                guard let members = f.document.members(element) else { throw o.fail("bouncedRecipients[\(n)]", "expected an object") }
                let parent = o.fail
                let r = FieldAccess(document: f.document, members: members, fail: { field, m in parent("bouncedRecipients[\(n)]" + (field.map { ".\($0)" } ?? ""), m) },
                                    numbersAsStrings: true)
                let action = try r.string("action")?.lowercased()
                let status = try r.string("status")
                let diagnostic = try r.string("diagnosticCode")
                var d = draft(nil, try r.string("emailAddress"), field: "bounce.bouncedRecipients[\(n)].emailAddress", time: time,
                              timeField: "bounce.timestamp", key: feedbackId)
                d.response = diagnostic
                d.smtpCode = ProviderReader.replyCode(in: diagnostic)
                d.enhancedStatus = diagnostic.flatMap(IngestRules.firstEnhancedStatus(in:)) ?? status.flatMap(IngestRules.firstEnhancedStatus(in:))
                switch action {
                case "delayed"?:
                    d.kind = .retry
                case "delivered"?, "relayed"?, "expanded"?:
                    d.skipReason = "Bounce recipient with action \(action ?? "")"
                    out.append(d)
                    continue
                default:
                    d.kind = .bounce
                    d.inBand = nil
                    let temporary = status.flatMap(EnhancedStatusCode.init)?.isTemporary ?? false
                    (d.qualification, d.qualifier, d.beforeRelay) = qualification(bounceType: bounceType, subType: subType, response: diagnostic,
                                                                                 enhancedStatus: d.enhancedStatus, smtpCode: d.smtpCode)
                    if temporary, let q = d.qualification { d.qualification = q.temporary }
                }
                out.append(d)
            }
            return out
        case "Complaint":
            guard let o = try ProviderReader.object("complaint", in: f) else { throw f.fail("complaint", "missing: a Complaint notification needs its complaint object") }
            let time = try o.instant("timestamp")
            let feedbackId = try o.string("feedbackId")
            // SES event publishing, "Complaint object": complaintSubType null or
            // OnAccountSuppressionList — "SES accepted the message, but didn't attempt to send it
            // because it was on the account-level suppression list": no complaint by the recipient.
            let suppressed = try o.string("complaintSubType") == "OnAccountSuppressionList"
            var out: [ProviderReader.Draft] = []
            for (n, element) in try ProviderReader.array("complainedRecipients", in: o).enumerated() {
                guard let members = f.document.members(element) else { throw o.fail("complainedRecipients[\(n)]", "expected an object") }
                let r = FieldAccess(document: f.document, members: members, fail: o.fail, numbersAsStrings: true)
                var d = draft(suppressed ? .bounce : .complaint, try r.string("emailAddress"), field: "complaint.complainedRecipients[\(n)].emailAddress",
                              time: time, timeField: "complaint.timestamp", key: feedbackId)
                if suppressed {
                    d.beforeRelay = true
                    d.response = "complaintSubType OnAccountSuppressionList"
                    d.qualification = Qualification(.hard, .denylistedAddress)
                    d.qualifier = "ses:Complaint/OnAccountSuppressionList"
                }
                out.append(d)
            }
            return out
        case "Reject":
            let time = try mail?.instant("timestamp")
            let reason = try ProviderReader.object("reject", in: f)?.string("reason")
            return destinations.map {
                var d = draft(.bounce, $0, field: "mail.destination", time: time, timeField: "mail.timestamp", key: nil)
                d.beforeRelay = true
                d.response = reason
                d.qualification = Qualification(.soft, .refused)
                d.qualifier = "ses:Reject"
                return d
            }
        case "DeliveryDelay":
            guard let o = try ProviderReader.object("deliveryDelay", in: f) else { throw f.fail("deliveryDelay", "missing: a DeliveryDelay event needs its deliveryDelay object") }
            let time = try o.instant("timestamp")
            var out: [ProviderReader.Draft] = []
            for (n, element) in try ProviderReader.array("delayedRecipients", in: o).enumerated() {
                guard let members = f.document.members(element) else { throw o.fail("delayedRecipients[\(n)]", "expected an object") }
                let r = FieldAccess(document: f.document, members: members, fail: o.fail, numbersAsStrings: true)
                let diagnostic = try r.string("diagnosticCode")
                var d = draft(.retry, try r.string("emailAddress"), field: "deliveryDelay.delayedRecipients[\(n)].emailAddress",
                              time: time, timeField: "deliveryDelay.timestamp", key: nil)
                let delayType = try o.string("delayType"), status = try r.string("status")
                d.response = diagnostic ?? delayType
                d.smtpCode = ProviderReader.replyCode(in: diagnostic)
                d.enhancedStatus = diagnostic.flatMap(IngestRules.firstEnhancedStatus(in:)) ?? status.flatMap(IngestRules.firstEnhancedStatus(in:))
                // Without a diagnostic, and with no status or a generic one (AWS's samples carry
                // "4.0.0"), the delay type names the reason.
                let generic = d.enhancedStatus.flatMap(EnhancedStatusCode.init).map { $0.subject == 0 && $0.detail == 0 } ?? true
                if diagnostic?.trimmingWhitespace.isEmpty ?? true, generic, let reason = delayType.flatMap(Self.delayReason) {
                    d.qualification = Qualification(.soft, reason)
                    d.qualifier = "ses:DeliveryDelay/\(delayType ?? "")"
                }
                out.append(d)
            }
            return out
        case "Rendering Failure":
            let time = try mail?.instant("timestamp")
            let message = try ProviderReader.object("failure", in: f)?.string("errorMessage")
            return destinations.map {
                var d = draft(.bounce, $0, field: "mail.destination", time: time, timeField: "mail.timestamp", key: nil)
                d.beforeRelay = true
                d.response = message
                d.qualification = Qualification(.notDefined, .notDefined)
                d.qualifier = "ses:Rendering Failure"
                return d
            }
        default:
            // Open, Click, Subscription, AmazonSnsSubscriptionSucceeded, and types unknown today.
            return [draft(nil, nil, field: "", time: nil, timeField: "", key: nil)]
        }
    }

    /// The reason a `DeliveryDelay`'s `delayType` names, when it names one (SES event publishing,
    /// "Delivery delay object"); `nil` for InternalFailure, General, Undetermined, SendingDeferral
    /// and values unknown today (the text rules then see the type's name).
    static func delayReason(_ delayType: String) -> FailureReason? {
        switch delayType {
        case "MailboxFull": .mailboxFull
        case "SpamDetected", "IPFailure": .refused
        case "RecipientServerError", "TransientCommunicationFailure", "BYOIPHostNameLookupUnavailable": .unreachable
        default: nil
        }
    }

    /// A final bounce's qualification from SES's `bounceType`/`bounceSubType` (see the type's docs),
    /// whether it was refused before relay, and the qualifier tag.
    static func qualification(bounceType: String, subType: String, response: String?, enhancedStatus: String?, smtpCode: Int?)
        -> (Qualification?, String?, Bool)
    {
        let tag = "ses:\(bounceType)/\(subType)"
        func textReason(_ fallback: FailureReason) -> FailureReason {
            ProviderReader.textReason(response, enhancedStatus: enhancedStatus, smtpCode: smtpCode, fallback: fallback)
        }
        switch (bounceType, subType) {
        case ("Permanent", "NoEmail"): return (Qualification(.hard, .userUnknown), tag, false)
        case ("Permanent", "Suppressed"), ("Permanent", "OnAccountSuppressionList"): return (Qualification(.hard, .addressInQuarantine), tag, true)
        case ("Permanent", _): return (Qualification(.hard, textReason(.notDefined)), tag, false)
        case ("Transient", "MailboxFull"): return (Qualification(.soft, .mailboxFull), tag, false)
        case ("Transient", "MessageTooLarge"), ("Transient", "ContentRejected"), ("Transient", "AttachmentRejected"):
            return (Qualification(.soft, .refused), tag, false)
        case ("Transient", _): return (Qualification(.soft, textReason(.unreachable)), tag, false)
        default: return (nil, nil, false)  // Undetermined: the text rules, re-qualifiable
        }
    }
}
