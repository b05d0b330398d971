import DeliveryLedger

/// Reads the webhook bodies of email service providers — Amazon SES (bare or in an SNS envelope),
/// SendGrid, Mailgun (JSON and legacy form-encoded), Postmark, Brevo, Mailjet, Postal — into ledger
/// events (internal; the mapping of each provider is documented on its reader and in README "Input:
/// email service providers").
///
/// A body is one JSON object (one event, or SES's one notification naming several recipients) or a
/// JSON array of them (SendGrid, grouped Mailjet, or several bodies saved as one file). Each element
/// is validated whole by the strict reader (repeated names refused at every depth) and keeps its exact
/// bytes as `Event.raw`; a Mailgun legacy body `event=…&recipient=…` is decoded from
/// `application/x-www-form-urlencoded` (its bytes are the raw record).
///
/// Rules shared by every provider:
/// - **Event id** (idempotency): `<provider>:` and the provider's own event id (SendGrid
///   `sg_event_id`, Mailgun `event-data.id` or legacy `token`, Postmark `ID`, Postal `uuid`); providers
///   without one (Brevo, Mailjet, SES) get a key built from what identifies the event (type, message
///   id, recipient, time); a record without either gets `sha256:` of its decoded content. So the same
///   webhook posted again (SendGrid averages 3 posts per event) appends nothing.
/// - **Delivery id**: ``IngestOptions/deliveryKey`` when given (a dotted path into the record; an
///   array gives its first element; missing is an error), else the provider's documented grouping
///   field (each reader names it), else ``IngestOptions/delivery``, else the provider's message id (one
///   delivery per message: KPIs are still per recipient).
/// - An event that names no recipient or no time (anymail's trimmed test samples) cannot be placed
///   in a message's history: it is counted as skipped `<provider> <event> without recipient` /
///   `without timestamp`, never appended with a guessed value (a guessed time would make a re-post a
///   conflicting event).
enum ProviderReader {
    /// What one record gave.
    enum Outcome {
        case event(Event)
        /// Counted as skipped under the reason; `incomplete`: the element is no complete event of the
        /// provider — a type it does not document (``documentedTypes(_:)``), or one without the
        /// recipient or time its events carry (``ParsedInput/skippedIncomplete``).
        case skipped(String, incomplete: Bool = false)
    }

    /// The event types each provider documents for its webhooks — those recorded and those skipped
    /// (opens, clicks…) alike. An element of another type is skipped too (a provider adds types over
    /// time), but a file none of whose elements is a complete event of a documented type is another
    /// provider's (the CLI refuses it, ``ParsedInput/skippedIncomplete``).
    ///
    /// Sources: SendGrid "Event Webhook Reference" (delivery and engagement events); Mailgun "Events"
    /// (`event-data.event`) and its legacy webhooks' `event`; Postmark webhooks' `RecordType`; Brevo
    /// "Transactional webhooks" and "Marketing webhooks" (`event`); Mailjet "Event API" (`event`);
    /// Postal's webhook events; Amazon SES notification contents (`notificationType`) and event
    /// publishing (`eventType`).
    static func documentedTypes(_ format: InputFormat) -> Set<String> {
        switch format {
        case .sendgrid: ["processed", "dropped", "delivered", "deferred", "bounce", "open", "click", "spamreport",
                         "unsubscribe", "group_unsubscribe", "group_resubscribe"]
        case .mailgun: ["accepted", "rejected", "delivered", "failed", "opened", "clicked", "unsubscribed", "complained", "stored",
                        "list_member_uploaded", "list_member_upload_error", "list_uploaded",
                        "bounced", "dropped"]  // the last two: legacy webhooks only
        case .postmark: ["Delivery", "Bounce", "SpamComplaint", "Open", "Click", "SubscriptionChange"]
        case .brevo: ["request", "sent", "delivered", "hard_bounce", "soft_bounce", "blocked", "spam", "complaint", "invalid_email",
                      "deferred", "click", "opened", "unique_opened", "proxy_open", "unique_proxy_open", "unsubscribed", "unsubscribe",
                      "error", "hardBounce", "softBounce", "listAddition", "contact_updated", "contact_deleted"]
        case .mailjet: ["sent", "open", "click", "bounce", "blocked", "spam", "unsub"]
        case .postal: ["MessageSent", "MessageDelayed", "MessageDeliveryFailed", "MessageHeld", "MessageBounced", "MessageLinkClicked",
                       "MessageLoaded", "DomainDNSError", "SendLimitApproaching", "SendLimitExceeded"]
        case .ses: ["Send", "Reject", "Bounce", "Complaint", "Delivery", "DeliveryDelay", "Open", "Click", "Rendering Failure",
                    "Subscription", "Received", "AmazonSnsSubscriptionSucceeded"]
        default: []
        }
    }

    /// The longest body read (bytes): webhook requests are small; a file of many bodies as one JSON
    /// array may reach this (64 MiB, as a SparkPost `{…}` document).
    static let maximumDocumentLength = 64 << 20

    /// Reads a whole body.
    ///
    /// - Throws: ``IngestError`` naming the file, element and field (unless `skipInvalid`, then the
    ///   bad elements are in ``ParsedInput/rejected``); an input that is no JSON array or object (and
    ///   no Mailgun form body) is an error.
    static func read(_ bytes: [UInt8], from start: Int, file: String, format: InputFormat, options: IngestOptions) throws(IngestError) -> ParsedInput {
        var result = ParsedInput(format: format)
        guard bytes.count <= maximumDocumentLength else {
            throw IngestError(file: file, message: "a \(format.rawValue) body longer than 64 MiB: give it in several files")
        }
        let scanner = JSONScanner(bytes: bytes)
        let first = scanner.skipWhitespace(start)
        guard first < bytes.count else { return result }
        var elements: [Range<Int>] = []
        var structural: JSONScanner.Failure?
        switch bytes[first] {
        case JSONScanner.openBracket:
            var end: Int?
            (elements, end, structural) = scanner.elements(ofArrayAt: first)
            for (index, range) in elements.enumerated() { try FeedStream.checkElementLength(range, element: index, file: file) }
            if structural == nil, let end, scanner.skipWhitespace(end) < bytes.count {
                structural = .init(message: "unexpected bytes after the end of the JSON document", offset: scanner.skipWhitespace(end))
            }
        case JSONScanner.openBrace:
            let end: Int
            do { end = try JSONSyntax.validateValue(bytes, at: first, options: .records) } catch {
                throw IngestError(file: file, element: 0, offset: error.offset, message: error.message)
            }
            let rest = scanner.skipWhitespace(end)
            if rest < bytes.count {
                throw IngestError(file: file, element: 0, offset: rest, message: "unexpected bytes after the end of the JSON document")
            }
            elements = [first..<end]
        default:
            guard format == .mailgun else {
                throw IngestError(file: file, offset: first, message: "not a \(format.rawValue) webhook body: expected a JSON object '{' or array '['")
            }
            let form = try FormBody.jsonObject(Array(bytes[first...]), file: file, offset: first)
            let outcomes = try record(form[...], index: 0, file: file, format: format, options: options, raw: Array(bytes[first...]))
            append(outcomes, index: 0, to: &result)
            return result
        }
        for (index, range) in elements.enumerated() {
            do {
                let outcomes = try record(bytes[range], index: index, file: file, format: format, options: options, raw: Array(bytes[range]))
                append(outcomes, index: index, to: &result)
            } catch {
                guard options.skipInvalid else { throw error }
                result.rejected.append(RejectedRecord(error: error, raw: Array(bytes[range])))
            }
        }
        if let failure = structural {
            let error = IngestError(file: file, element: elements.count, offset: failure.offset, message: failure.message)
            guard options.skipInvalid else { throw error }
            result.rejected.append(try RejectedRecord.restOfBrokenDocument(bytes[(failure.recordStart ?? failure.offset)...], error: error, inputEnds: true))
        }
        return result
    }

    /// Adds a record's outcomes to `result`: its events (located as `element <index>`), its skipped counts.
    static func append(_ outcomes: [Outcome], index: Int, to result: inout ParsedInput) {
        for outcome in outcomes {
            switch outcome {
            case .event(let e):
                result.events.append(e)
                result.locations.append("element \(index)")
            case .skipped(let why, let incomplete):
                result.skipped[why, default: 0] += 1
                if incomplete { result.skippedIncomplete[why, default: 0] += 1 }
            }
        }
    }

    /// One record (a JSON object's exact bytes) → its outcomes, by the provider's reader.
    ///
    /// - Parameter baseOffset: added to byte offsets in errors (the stream offset of `bytes`' base).
    static func record(_ bytes: ArraySlice<UInt8>, index: Int, baseOffset: Int = 0, file: String, format: InputFormat, options: IngestOptions,
                       raw: [UInt8]) throws(IngestError) -> [Outcome] {
        let fail = { (field: String?, message: String) -> IngestError in
            IngestError(file: file, element: index, field: field, message: message)
        }
        let doc: JSONDocument
        do { doc = try JSONDocument(validating: bytes, options: .records) } catch {
            throw IngestError(file: file, element: index, offset: baseOffset + bytes.startIndex + error.offset, message: error.message)
        }
        guard let members = doc.members(doc.root) else {
            throw fail(nil, "expected a JSON object (a \(format.rawValue) webhook event), got \(doc.value(doc.root).typeName)")
        }
        let f = FieldAccess(document: doc, members: members, fail: fail, numbersAsStrings: true)
        let context = Context(file: file, index: index, options: options, format: format, raw: raw, fail: fail)
        let drafts: [Draft]
        switch format {
        case .ses: drafts = try SESReader.drafts(f, context)
        case .sendgrid: drafts = try SendGridReader.drafts(f, context)
        case .mailgun: drafts = try MailgunReader.drafts(f, context)
        case .postmark: drafts = try PostmarkReader.drafts(f, context)
        case .brevo: drafts = try BrevoReader.drafts(f, context)
        case .mailjet: drafts = try MailjetReader.drafts(f, context)
        case .postal: drafts = try PostalReader.drafts(f, context)
        default: throw fail(nil, "\(format.rawValue) is not a provider format")
        }
        var out: [Outcome] = []
        for d in drafts { out.append(try finish(d, source: format.source, context: context)) }
        return out
    }

    /// What a reader needs besides the record: where it is, the options, its raw bytes.
    struct Context {
        var file: String
        var index: Int
        var options: IngestOptions
        /// The provider's format.
        var format: InputFormat
        var raw: [UInt8]
        var fail: (_ field: String?, _ message: String) -> IngestError
    }

    /// What a provider record says about one recipient, before it becomes an ``Event``.
    struct Draft {
        /// The provider's event name, for skipped counts and messages.
        var type: String
        /// `nil`: the record is counted as skipped `<provider> <type>`.
        var kind: EventKind?
        /// The provider's event id, or the parts that identify the event (joined with `:`).
        var id: String?
        var recipient: String?
        var recipientField: String
        var occurredAt: Instant?
        var timeField: String
        /// The delivery id (key or default, then fallback already applied), or `nil` when none.
        var delivery: String?
        var deliveryField: String
        var final = true
        var inBand: Bool? = nil
        var beforeRelay = false
        var smtpCode: Int? = nil
        var enhancedStatus: String? = nil
        var response: String? = nil
        /// The provider's own classification, kept as is (qualifier ``qualifier``); `nil`: the text
        /// rules qualify ``response`` (re-qualified by re-projection with a new rule table).
        var qualification: Qualification? = nil
        var qualifier: String? = nil
        var attempt: Int? = nil
        /// Why the record is skipped (when ``kind`` is `nil`); defaults to the type.
        var skipReason: String? = nil
        /// The provider's own type name where ``type`` refines it (Postmark's `SubscriptionChange`
        /// shown with its reason), for ``ProviderReader/documentedTypes(_:)``.
        var documentedType: String? = nil

        init(type: String, kind: EventKind?, recipientField: String, timeField: String, deliveryField: String) {
            self.type = type
            self.kind = kind
            self.recipientField = recipientField
            self.timeField = timeField
            self.deliveryField = deliveryField
        }
    }

    /// Turns a draft into an event (or a skip), qualifying failures and validating the result.
    static func finish(_ d: Draft, source: SourceFormat, context: Context) throws(IngestError) -> Outcome {
        let provider = source.rawValue
        guard let kind = d.kind else {
            // Not recorded (an open, a click), but still this provider's only if it is of a type it
            // documents and carries the recipient and time the reader looked for (Brevo's `open`
            // read as SendGrid's has no `timestamp`).
            let foreign = d.skipReason == nil && (!documentedTypes(context.format).contains(d.documentedType ?? d.type)
                || (!d.recipientField.isEmpty && (d.recipient ?? "").isEmpty) || (!d.timeField.isEmpty && d.occurredAt == nil))
            return .skipped("\(provider) \(d.skipReason ?? d.type)", incomplete: foreign)
        }
        guard let text = d.recipient, !text.isEmpty else { return .skipped("\(provider) \(d.type) without recipient", incomplete: true) }
        let recipient: String
        do { recipient = try Address.parse(text) } catch {
            // The provider refused to send to it (SendGrid `dropped` with reason `Invalid`): its own
            // verdict on a recipient that is no address — counted, not an error of the input.
            if kind == .bounce && d.beforeRelay { return .skipped("\(provider) \(d.type) of a recipient that is not an address") }
            throw context.fail(d.recipientField, "\(JSONValue.quoted(text)) is not an address: \(error)")
        }
        guard let occurredAt = d.occurredAt else { return .skipped("\(provider) \(d.type) without timestamp", incomplete: true) }
        guard let delivery = d.delivery, !delivery.isEmpty else {
            throw context.fail(d.deliveryField, "missing: no delivery id (give --delivery-key or --delivery)")
        }
        var id = "\(provider):" + (d.id.flatMap { $0.isEmpty ? nil : $0 } ?? IngestRules.contentHashId(context.raw[...]))
        if id.utf8.count > 255 { id = "\(provider):" + IngestRules.contentHashId(Array(id.utf8)[...]) }
        var event = Event(
            id: id, kind: kind, delivery: delivery, recipient: recipient, occurredAt: occurredAt,
            final: d.final, inBand: d.inBand, beforeRelay: d.beforeRelay, smtpCode: d.smtpCode,
            enhancedStatus: d.enhancedStatus, response: d.response, attempt: d.attempt, source: source, raw: context.raw)
        if kind == .bounce || kind == .retry || kind == .timeout {
            if var q = d.qualification {
                if kind == .timeout { q = q.forTimeout }
                if kind == .retry || !event.final { q = q.temporary }
                // A temporary reply (4xx, or a class-4 enhanced code) is never hard, whatever the
                // provider's class says (domain.md §5.1).
                if (d.smtpCode.map { (400..<500).contains($0) } ?? false)
                    || (d.enhancedStatus.flatMap(EnhancedStatusCode.init)?.isTemporary ?? false) { q = q.temporary }
                event.qualification = q
                event.qualifier = d.qualifier ?? "\(provider):source"
            } else {
                (event.qualification, event.qualifier) = IngestRules.derivedQualification(
                    kind: kind, final: event.final, bounceClass: nil, smtpCode: d.smtpCode, enhancedStatus: d.enhancedStatus,
                    text: d.response, recipient: recipient, raw: context.raw, source: source)
            }
        }
        do { try event.validate() } catch {
            let field: String = switch error.field {
            case "recipient": d.recipientField
            case "occurredAt": d.timeField
            case "delivery": d.deliveryField
            default: error.field
            }
            throw context.fail(field, error.message)
        }
        return .event(event)
    }

    // MARK: Shared helpers

    /// The delivery id: the ``IngestOptions/deliveryKey`` path when given (an error when missing),
    /// else `defaults` in order (the first non-empty), else ``IngestOptions/delivery``, else
    /// `messageId`.
    static func delivery(_ f: FieldAccess, _ context: Context, defaults: [String?], messageId: String?) throws(IngestError) -> String? {
        if let key = context.options.deliveryKey, !key.isEmpty {
            guard let id = try text(atPath: key, in: f) else {
                throw context.fail(key, "missing: no delivery id at '\(key)' (the --delivery-key)")
            }
            return id
        }
        for d in defaults { if let d, !d.isEmpty { return d } }
        if let given = context.options.delivery, !given.isEmpty { return given }
        return messageId.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The text at a dotted path (`metadata.campaign`): a string, an integer, or the first element
    /// of an array of them; `nil` when absent, null or empty.
    static func text(atPath path: String, in f: FieldAccess) throws(IngestError) -> String? {
        let doc = f.document
        var members: ArraySlice<JSONDocument.Member>? = f.members
        var value: Range<Int>? = nil
        for part in path.split(separator: ".", omittingEmptySubsequences: false) {
            guard let m = members else { return nil }
            value = m.first { doc.nameIs($0, String(part)) }?.value
            members = value.flatMap(doc.members)
        }
        guard var v = value else { return nil }
        if let elements = doc.elements(v) {
            guard let first = elements.first else { return nil }
            v = first
        }
        switch doc.value(v) {
        case .null: return nil
        case .string(let s): return s.isEmpty ? nil : s
        case .int(let i): return String(i)
        case let other: throw f.fail(path, "expected a string or an integer delivery id, got \(other.typeName) \(other.snippet)")
        }
    }

    /// The object member `name` as a field access whose errors name `prefix.field`; `nil` when absent
    /// or null; an error when not an object.
    static func object(_ name: String, in f: FieldAccess, prefix: String? = nil) throws(IngestError) -> FieldAccess? {
        guard let m = f.member(name), !f.document.isNull(m.value) else { return nil }
        let path = prefix.map { "\($0).\(name)" } ?? name
        guard let members = f.document.members(m.value) else {
            throw f.fail(path, "expected an object, got \(f.document.value(m.value).typeName)")
        }
        let parent = f.fail
        return FieldAccess(document: f.document, members: members, fail: { field, message in
            parent(field.map { "\(path).\($0)" } ?? path, message)
        }, numbersAsStrings: f.numbersAsStrings)
    }

    /// The elements of the array member `name` (`[]` when absent or null; an error when not an array).
    static func array(_ name: String, in f: FieldAccess) throws(IngestError) -> [Range<Int>] {
        guard let m = f.member(name), !f.document.isNull(m.value) else { return [] }
        guard let elements = f.document.elements(m.value) else {
            throw f.fail(name, "expected an array, got \(f.document.value(m.value).typeName)")
        }
        return elements
    }

    /// The strings of the array member `name` (non-strings are an error).
    static func strings(_ name: String, in f: FieldAccess) throws(IngestError) -> [String] {
        var out: [String] = []
        for (n, e) in try array(name, in: f).enumerated() {
            guard case .string(let s) = f.document.value(e) else { throw f.fail("\(name)[\(n)]", "expected a string") }
            out.append(s)
        }
        return out
    }

    /// The reason the rule table gives an SMTP text (with its codes), or `fallback` when there is no
    /// text or no rule names a reason (Not defined): for providers whose own class gives the failure
    /// type but not the reason.
    static func textReason(_ text: String?, enhancedStatus: String?, smtpCode: Int?, fallback: FailureReason) -> FailureReason {
        guard let text, !text.trimmingWhitespace.isEmpty else { return fallback }
        let r = TextQualifier.builtIn.qualify(text: text, enhancedStatus: enhancedStatus, replyCode: smtpCode).qualification.reason
        return r == .notDefined ? fallback : r
    }

    /// The RFC 5321 reply code at the start of an SMTP text (`550 5.1.1 …`, `smtp; 550 …`,
    /// `smtp;550-…`), if any.
    static func replyCode(in text: String?) -> Int? {
        guard var s = text?.trimmingWhitespace else { return nil }
        if s.lowercased().hasPrefix("smtp;") { s = String(s.dropFirst(5)).trimmingWhitespace }
        let digits = s.utf8.prefix(4)
        guard digits.count >= 3, let code = Int(String(decoding: digits.prefix(3), as: UTF8.self)), (200...599).contains(code) else { return nil }
        if digits.count == 4, let fourth = digits.last, fourth != UInt8(ascii: " "), fourth != UInt8(ascii: "-") { return nil }
        return code
    }
}

extension InputFormat {
    /// The ``SourceFormat`` events read in this format carry (providers only; others `.api`).
    var source: SourceFormat {
        switch self {
        case .ses: .ses
        case .sendgrid: .sendgrid
        case .mailgun: .mailgun
        case .postmark: .postmark
        case .brevo: .brevo
        case .mailjet: .mailjet
        case .postal: .postal
        case .jsonl: .jsonl
        case .sparkpost: .sparkpost
        case .dsn: .dsn
        case .postfix: .postfix
        case .auto: .api
        }
    }
}
