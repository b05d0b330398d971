import DeliveryLedger

/// Reads SparkPost / Momentum webhook batches and Events-API results (internal; the rules are
/// documented on ``FeedReader``).
enum SparkPostReader {
    /// What a SparkPost element turned into.
    enum Outcome {
        case event(Event)
        case skipped(String)
    }

    static func read(_ bytes: [UInt8], from start: Int, file: String, deliveryKey: String?, skipInvalid: Bool) throws(IngestError) -> ParsedInput {
        let scanner = JSONScanner(bytes: bytes)
        let first = scanner.skipWhitespace(start)
        guard first < bytes.count else { return ParsedInput(format: .sparkpost) }

        // Locate the elements: the top-level array, the `results` array, or one object.
        var elements: [Range<Int>] = []
        var structural: JSONScanner.Failure?
        var documentEnd: Int?
        switch bytes[first] {
        case JSONScanner.openBracket:
            (elements, documentEnd, structural) = scanner.elements(ofArrayAt: first)
            for (index, range) in elements.enumerated() { try FeedStream.checkElementLength(range, element: index, file: file) }
        case JSONScanner.openBrace:
            let walk = try objectDocument(scanner, at: first, file: file)
            (elements, documentEnd, structural) = (walk.elements, walk.end, walk.failure)
            if walk.elements.count > 1 || walk.elements.first?.lowerBound != first {
                // The Events API's `results` array: elements as in a batch.
                for (index, range) in elements.enumerated() { try FeedStream.checkElementLength(range, element: index, file: file) }
            }
        default:
            throw IngestError(file: file, message: "not a SparkPost document: expected '[' or '{'")
        }
        if structural == nil, let end = documentEnd {
            let rest = scanner.skipWhitespace(end)
            if rest < bytes.count {
                structural = JSONScanner.Failure(message: "unexpected bytes after the end of the JSON document", offset: rest)
            }
        }

        // Elements are independent: decode them on every core, then assemble in input order (the
        // first error is still the one of the lowest element index).
        let found = elements
        let parts = Parallel.mapRuns(found) { run in
            let scratch = JSONSyntax.Scratch()
            return ParsedInput.part(format: .sparkpost, records: run, skipInvalid: skipInvalid, raw: { Array(bytes[found[$0]]) }) {
                (index, part) throws(IngestError) in
                switch try element(bytes[found[index]], index: index, file: file, deliveryKey: deliveryKey, scratch: scratch) {
                case .event(let e):
                    part.events.append(e)
                    part.locations.append("element \(index)")
                case .skipped(let type): part.skipped[type, default: 0] += 1
                }
            }
        }
        var result = try ParsedInput(joining: parts, format: .sparkpost)
        if let failure = structural {
            let error = IngestError(file: file, element: elements.count, offset: failure.offset, message: failure.message)
            guard skipInvalid else { throw error }
            result.rejected.append(try RejectedRecord.restOfBrokenDocument(bytes[(failure.recordStart ?? failure.offset)...], error: error, inputEnds: true))
        }
        return result
    }

    /// Locates the elements of a document that starts with `{`: the elements of its `results` array
    /// (Events API), or the object itself as element 0 when it has `msys` or `type` (one webhook
    /// event). Members are walked one by one so that a document cut inside `results` keeps the
    /// elements before the cut.
    ///
    /// - Returns: the element ranges, the offset after the closing `}` when the document is whole, and
    ///   the structural failure otherwise (its offset is where the reader lost track: the start of the
    ///   document when no element could be located).
    /// - Throws: ``IngestError`` when the object is whole but no SparkPost document.
    static func objectDocument(_ scanner: JSONScanner, at first: Int, file: String) throws(IngestError)
        -> (elements: [Range<Int>], end: Int?, failure: JSONScanner.Failure?)
    {
        let bytes = scanner.bytes
        var results: [Range<Int>]? = nil
        var singleEvent = false
        var names: Set<String> = []
        func lost(_ failure: JSONScanner.Failure) -> (elements: [Range<Int>], end: Int?, failure: JSONScanner.Failure?) {
            // Without the results array located, nothing before the cut is usable.
            (results ?? [], nil, JSONScanner.Failure(message: failure.message, offset: failure.offset,
                                                     recordStart: results == nil ? first : failure.recordStart))
        }
        var i = scanner.skipWhitespace(first + 1)
        var end: Int? = nil
        if i < bytes.count, bytes[i] == JSONScanner.closeBrace { end = i + 1 }
        while end == nil {
            guard i < bytes.count else { return lost(.init(message: "truncated JSON: '{' is not closed", offset: i)) }
            guard bytes[i] == JSONScanner.quote else { return lost(.init(message: "malformed JSON: expected a member name in quotes", offset: i)) }
            let keyEnd: Int
            do { keyEnd = try scanner.endOfString(i) } catch { return lost(error) }
            let key = JSONScanner.decodeKey(bytes[(i + 1)..<(keyEnd - 1)])
            guard !names.contains(key) else {
                return lost(.init(message: "malformed JSON: duplicate member name \(JSONValue.quoted(key)) in the document", offset: i))
            }
            names.insert(key)
            i = scanner.skipWhitespace(keyEnd)
            guard i < bytes.count, bytes[i] == JSONScanner.colon else {
                return lost(.init(message: i < bytes.count ? "malformed JSON: expected ':' after a member name" : "truncated JSON: '{' is not closed", offset: i))
            }
            let valueStart = scanner.skipWhitespace(i + 1)
            let valueEnd: Int
            if key == "results", results == nil {
                guard valueStart < bytes.count, bytes[valueStart] == JSONScanner.openBracket else {
                    throw IngestError(file: file, field: "results", offset: valueStart, message: "expected an array of events")
                }
                let scan = scanner.elements(ofArrayAt: valueStart)
                results = scan.elements
                if let failure = scan.failure { return (scan.elements, nil, failure) }
                valueEnd = scan.end ?? bytes.count
            } else {
                if key == "msys" || key == "type" { singleEvent = true }
                // Members other than `results` (links, total_count…) are checked as strictly as elements.
                do { valueEnd = try JSONSyntax.validateValue(bytes, at: valueStart, options: .records) } catch {
                    return lost(.init(message: error.message, offset: error.offset))
                }
            }
            i = scanner.skipWhitespace(valueEnd)
            guard i < bytes.count else { return lost(.init(message: "truncated JSON: '{' is not closed", offset: i)) }
            if bytes[i] == JSONScanner.closeBrace {
                end = i + 1
            } else if bytes[i] == JSONScanner.comma {
                i = scanner.skipWhitespace(i + 1)
            } else {
                return lost(.init(message: "malformed JSON: expected ',' or '}'", offset: i))
            }
        }
        if let results { return (results, end, nil) }
        if singleEvent, let end { return ([first..<end], end, nil) }
        throw IngestError(file: file, message: "not a SparkPost document: expected an array of webhook events, {\"results\": [...]}, or one {\"msys\": {...}} event")
    }

    /// One element (its exact bytes) → an event, or a skipped type name.
    ///
    /// The element is validated whole by the strict reader (``JSONSyntax``, repeated names refused at
    /// every depth); its byte offsets count from the input's first byte (`raw` is a slice of the input).
    ///
    /// `scratch`: the validation's working arrays, reused from the element before when a run of
    /// elements is decoded on one thread.
    static func element(_ raw: ArraySlice<UInt8>, index: Int, baseOffset: Int = 0, file: String, deliveryKey: String?,
                        scratch: JSONSyntax.Scratch? = nil) throws(IngestError) -> Outcome {
        func fail(_ field: String?, _ message: String) -> IngestError {
            IngestError(file: file, element: index, field: field, message: message)
        }
        let doc: JSONDocument
        do { doc = try JSONDocument(validating: raw, options: .records, scratch: scratch) } catch {
            throw IngestError(file: file, element: index, offset: baseOffset + raw.startIndex + error.offset, message: error.message)
        }
        defer { doc.recycle(into: scratch) }
        let root = doc.root
        guard let top = doc.members(root) else {
            throw fail(nil, "expected a JSON object (a webhook event), got \(doc.value(root).typeName)")
        }

        // Another provider's event (SendGrid's bounce even has a `type`): SparkPost's events have no
        // `event` member; SendGrid, Mailgun, Mailjet and Brevo name their type so. Said as such, not as
        // a SparkPost field it lacks (found by a tester: "field 'campaign_id': missing").
        if !top.contains(where: { doc.nameIs($0, "msys") }), top.contains(where: { doc.nameIs($0, "event") }) {
            throw fail("event", "not a SparkPost event: it has an 'event' field, as SendGrid, Mailgun, Mailjet and Brevo events do "
                       + "(SparkPost's name their type in 'type', under 'msys' in a webhook batch): another provider's? Give its --format")
        }
        // Unwrap {"msys": {"<group>": {...}}}; {"msys": {}} is a ping.
        var objectRange = root
        var object = top
        if let msys = top.first(where: { doc.nameIs($0, "msys") }) {
            guard let groups = doc.members(msys.value) else {
                throw fail("msys", "expected an object, got \(doc.value(msys.value).typeName)")
            }
            if groups.isEmpty { return .skipped("ping") }
            guard groups.count == 1, let body = groups.first else {
                throw fail("msys", "expected exactly one event group, got \(groups.map(doc.name).sorted().joined(separator: ", "))")
            }
            let group = doc.name(body)
            // Inbound relay (SparkPost relay webhooks: `relay_message`, a message received for a relay
            // domain, with no `type`): not the sender's deliveries, counted (domain.md §2).
            if group == "relay_message" { return .skipped("inbound relay") }
            guard let inner = doc.members(body.value) else {
                throw fail("msys.\(group)", "expected an object, got \(doc.value(body.value).typeName)")
            }
            objectRange = body.value
            object = inner
        }
        let f = FieldAccess(document: doc, members: object, fail: fail, numbersAsStrings: true)
        guard let type = try f.string("type") else { throw fail("type", "missing: a SparkPost event needs a type") }

        // Type → kind (domain.md §2, §8; reference/mta.md §1.2).
        var kind: EventKind
        var inBand: Bool? = nil
        var beforeRelay = false
        switch type {
        case "injection": kind = .relay
        case "delivery": kind = .delivered
        case "bounce": kind = .bounce; inBand = true
        case "out_of_band": kind = .bounce; inBand = false
        case "policy_rejection", "generation_failure", "generation_rejection": kind = .bounce; beforeRelay = true
        case "delay": kind = .retry
        case "spam_complaint": kind = .complaint
        case "list_unsubscribe", "link_unsubscribe": kind = .unsubscribe
        default:
            // Engagement (open, initial_open, click, amp_*), sms_status, relay_*, and types unknown
            // today: not tracked, counted (domain.md §2: "counted and skipped with a summary, never an error").
            return .skipped(type)
        }

        let bounceClass = try f.int("bounce_class")
        let isBounceType = type == "bounce" || type == "out_of_band"
        if isBounceType, let c = bounceClass, let effect = BounceClassTable.effect(of: c) {
            switch effect {
            case .failure: break
            case .autoReply: kind = .autoReply; inBand = nil
            case .unsubscribe: kind = .unsubscribe; inBand = nil
            case .subscribe: return .skipped("subscribe")
            }
        }

        // An auto-reply or challenge-response (class 60, 100) never changes a status (domain.md §3);
        // one that names no delivery or no time (anymail's trimmed `bounce_challenge_response`
        // sample) cannot be placed, so it is counted as skipped rather than failing the batch.
        if kind == .autoReply {
            let campaign = try f.identifier("campaign_id") ?? ""
            let transmission = try f.identifier("transmission_id") ?? ""
            let hasDelivery = deliveryKey != nil || !campaign.isEmpty || !transmission.isEmpty
            if !hasDelivery || f.member("timestamp") == nil { return .skipped("autoReply without delivery or timestamp") }
        }

        // Delivery id.
        let delivery: String
        if let key = deliveryKey, !key.isEmpty {
            delivery = try deliveryId(key: key, f: f, fail: fail)
        } else if let campaign = try f.identifier("campaign_id"), !campaign.isEmpty {
            delivery = campaign
        } else if let transmission = try f.identifier("transmission_id"), !transmission.isEmpty {
            delivery = transmission
        } else {
            throw fail("campaign_id", "missing: neither campaign_id nor transmission_id gives a delivery id (or choose one with the delivery key option)")
        }

        // Recipient: `rcpt_to`, else `raw_rcpt_to`. SparkPost documents `rcpt_to` as the lower-cased
        // copy of `raw_rcpt_to` (the envelope's address); `rcpt_to` is kept: every message event
        // carries it, while `raw_rcpt_to` is missing from some, and a message must be one recipient
        // across its events (and across re-ingests of feeds read before). A sender whose own records
        // keep an upper-case local part should lower-case it, or give the events with
        // `--delivery-key` and canonical JSON Lines.
        var recipientField = "rcpt_to"
        var given = try f.string("rcpt_to")
        if given?.isEmpty ?? true, let alt = try f.string("raw_rcpt_to"), !alt.isEmpty {
            given = alt
            recipientField = "raw_rcpt_to"
        }
        guard let text = given, !text.isEmpty else {
            // SparkPost: an out-of-band bounce's recipient is occasionally missing (the remote's
            // report did not name it; FAQ "Why is the recipient occasionally missing from the Out of
            // Band event?"): it cannot be placed, and is counted rather than failing the batch.
            if type == "out_of_band" { return .skipped("out_of_band without recipient") }
            throw fail("rcpt_to", "missing: a \(type) event needs rcpt_to")
        }
        let recipient: String
        do { recipient = try Address.parse(text) } catch {
            throw fail(recipientField, "\(JSONValue.quoted(text)) is not an address: \(error)")
        }

        guard let occurredAt = try f.instant("timestamp") else {
            throw fail("timestamp", "missing: a \(type) event needs a timestamp")
        }

        let smtpCode = try f.int("error_code")
        let rawReason = try f.string("raw_reason")
        let reason = try f.string("reason")
        let enhancedStatus = rawReason.flatMap(IngestRules.firstEnhancedStatus(in:)) ?? reason.flatMap(IngestRules.firstEnhancedStatus(in:))
        let response = rawReason ?? reason
        let attempt = try f.int("num_retries")

        // Class 24 "Timeout" (domain.md §5.2: a failure (timeout)), or a timeout text.
        if isBounceType, kind == .bounce, bounceClass == 24
            || BounceClassTable.isTimeoutText(rawReason, enhancedStatus: enhancedStatus) || BounceClassTable.isTimeoutText(reason, enhancedStatus: enhancedStatus) {
            kind = .timeout
        }

        let id: String
        if let eventId = try f.identifier("event_id"), !eventId.isEmpty {
            id = "sparkpost:\(type):\(eventId)"
        } else {
            // Hash of the decoded element, not of its bytes: the same event formatted otherwise gets
            // the same id, so its re-ingest is a no-op.
            id = "sparkpost:\(type):" + IngestRules.contentHashId(doc.value(objectRange).canonicalBytes[...])
        }

        var event = Event(
            id: id, kind: kind, delivery: delivery, recipient: recipient, occurredAt: occurredAt,
            final: kind != .retry, inBand: inBand, beforeRelay: beforeRelay, bounceClass: bounceClass,
            smtpCode: smtpCode, enhancedStatus: enhancedStatus, response: response, attempt: attempt,
            source: .sparkpost, raw: Array(raw))
        if kind == .bounce || kind == .retry || kind == .timeout {
            // A policy or generation *rejection* without a class is SparkPost's Admin category
            // (class 25): Momentum counts its policy and generation rejections as Admin Failures
            // (reference/mta.md §2 notes). A generation *failure* (e.g. template rendering) has no
            // such class: it is a technical failure of the platform, qualified as class 1 Undetermined
            // (Not defined), not by the receiver-oriented text rules.
            let impliedClass: Int? = switch type {
            case "policy_rejection", "generation_rejection": 25
            case "generation_failure": 1
            default: nil
            }
            (event.qualification, event.qualifier) = IngestRules.derivedQualification(
                kind: kind, final: event.final, bounceClass: bounceClass ?? impliedClass, smtpCode: smtpCode,
                enhancedStatus: enhancedStatus, text: response, recipient: event.recipient, raw: event.raw, source: event.source)
        }
        do {
            try event.validate()
        } catch {
            let field: String = switch error.field {
            case "id": "event_id"
            case "delivery": deliveryKey ?? "campaign_id"
            case "recipient": recipientField
            case "occurredAt": "timestamp"
            case "bounceClass": "bounce_class"
            case "smtpCode": "error_code"
            case "enhancedStatus", "response": rawReason != nil ? "raw_reason" : "reason"
            case "attempt": "num_retries"
            default: error.field
            }
            throw fail(field, error.message)
        }
        return .event(event)
    }

    /// The delivery id at `key`: a dotted path (`rcpt_meta.delivery_id`), or a bare name at the top
    /// level, then in `rcpt_meta`.
    static func deliveryId(key: String, f: FieldAccess, fail: (String?, String) -> IngestError) throws(IngestError) -> String {
        let doc = f.document
        func text(_ member: Range<Int>?) throws(IngestError) -> String? {
            switch member.map(doc.value) {
            case nil, .null?: return nil
            case .string(let s)?: return s.isEmpty ? nil : s
            case .int(let i)?: return String(i)
            case let other?: throw fail(key, "expected a string or an integer delivery id, got \(other.typeName) \(other.snippet)")
            }
        }
        if key.contains(".") {
            var current: ArraySlice<JSONDocument.Member>? = f.members
            var value: Range<Int>? = nil
            for part in key.split(separator: ".", omittingEmptySubsequences: false) {
                guard let members = current else { value = nil; break }
                value = members.first { doc.nameIs($0, String(part)) }?.value
                current = value.flatMap(doc.members)
            }
            guard let id = try text(value) else { throw fail(key, "missing: no delivery id at path '\(key)'") }
            return id
        }
        if let id = try text(f.member(key)?.value) { return id }
        if let meta = f.member("rcpt_meta")?.value, let members = doc.members(meta),
           let id = try text(members.first(where: { doc.nameIs($0, key) })?.value) { return id }
        throw fail(key, "missing: no '\(key)' at the event's top level or in rcpt_meta")
    }
}
