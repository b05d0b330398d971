import DeliveryLedger

/// Turns input bytes (canonical JSON Lines or SparkPost feedback) into ledger events, without
/// storing anything (domain.md §8).
///
/// ## Format detection (``InputFormat/auto``)
/// After an optional UTF-8 byte order mark and white space: `[` → SparkPost; `{` → JSON Lines when the
/// first object has a `kind` member, SparkPost otherwise (`{"results": …}`, `{"msys": …}`). The member
/// names are found by scanning, not decoding, so even a first line too long or too broken to decode is
/// told apart; the first of `kind` (JSON Lines) or `msys`, `results`, `type` (SparkPost) decides, and an
/// object with none of them but a canonical `occurredAt`, `delivery` or `recipient` is JSON Lines (so a
/// line that forgot its `kind` is reported as such). Empty input gives zero events and no error.
/// Before that, an email service provider's webhook body is recognised by its member names (the
/// object's, or for `[` the first element's; ``providerFormat(names:)``), and a form-encoded body
/// with an `event` field is Mailgun's legacy webhook. Anything else is an error: "cannot tell the
/// format; use --format".
///
/// ## Email service providers (``InputFormat/ses`` … ``InputFormat/postal``)
/// Read by the readers in `Providers/`, one per provider; each documents its mapping table, event id
/// and default delivery id (README "Input: email service providers").
///
/// ## Canonical JSON Lines (``SourceFormat/jsonl``)
/// One JSON object per line; lines end with `\n` or `\r\n`; blank lines are ignored; line numbers
/// count every line from 1. Members: `id`, `kind`, `delivery`, `recipient`, `occurredAt`, and, as the
/// kind needs, `final`, `inBand`, `beforeRelay`, `bounceClass`, `smtpCode`, `enhancedStatus`,
/// `response`, `failureType`, `failureReason`, `qualifier`, `attempt`, `validitySeconds`, `toDeliver`,
/// `label`, `enabled`. Rules:
/// - any other member name is an error naming it (the format is a strict contract); JSON `null` is the
///   same as an absent member; numbers must be JSON numbers (integral where the field is an integer);
/// - `kind`, `failureType`, `failureReason` are the raw values of `EventKind`, `FailureType`,
///   `FailureReason`;
/// - `occurredAt`: RFC 3339 text with an offset, or an epoch number (JSON number or string of digits,
///   fraction allowed) in **seconds**, read as **milliseconds** when ≥ 100 000 000 000 (that many seconds
///   is the year 5138, that many milliseconds is 1973; domain.md §7). Fractions finer than a millisecond
///   are truncated;
/// - `id` is optional: without it the id is `sha256:` + the hex of the first 16 bytes of the SHA-256
///   of the line's decoded object in a canonical form (members sorted, no white space), so re-reading
///   the same line — or the same object written with other spacing or member order — gives the same
///   id (domain.md §2: "with no id, from a content hash");
/// - `recipient` is normalised with `Address.normalize` (an error when it is not an address);
/// - members must fit the kind (Schemas/canonical-event.schema.json): message kinds take no
///   `validitySeconds`, `toDeliver`, `label`, `enabled`; a `delivery` declaration takes no recipient,
///   outcome (`final` … `attempt`) or `enabled`; an `efsFlag` takes only `id`, `occurredAt`, `enabled`;
/// - `final` says whether an outcome is final and defaults to `true`; `final: true` on a `retry`, or
///   `final: false` on a `timeout` or a `delivered`, is an error (a retry is never final, a timeout and
///   a delivery always are); on a `relay`, `complaint`, `unsubscribe` or `autoReply`, which are not
///   outcomes (domain.md §3), `final` is an error whatever its value; `beforeRelay` defaults to `false`;
/// - a `bounce`, `retry` or `timeout` without `failureType`/`failureReason` is qualified from
///   `bounceClass` by `BounceClassTable` (a class meaning auto-reply, unsubscribe or subscribe is an
///   error: the writer must use that kind) with `qualifier` `BounceClassTable.version`, else by the
///   text rules on `response` and the codes (`TextQualifier`, `qualifier` = its `qualifierTag`); a
///   `timeout` is soft (an undefined reason becomes Unreachable), and the result is capped at soft for
///   a `retry`, a non-final `bounce`, a 4xx reply or a class-4 enhanced code (domain.md §5.1). Given explicitly, the pair is kept as is with
///   `qualifier` as given or `"source"`; `failureType` and `failureReason` go together, a `qualifier`
///   without them is an error, and a hard `retry` is an error (domain.md §5.1);
/// - the line must be at most 1 MiB (1 048 576 bytes); a longer line is refused without decoding it.
/// `Event.raw` is the line's exact bytes without the terminator.
///
/// ## SparkPost (``SourceFormat/sparkpost``; reference/mta.md §1)
/// A webhook batch `[{"msys": {"<group>": {…}}}, …]` (an empty `{"msys": {}}` is a ping, counted as
/// skipped `ping`), an Events-API document `{"results": [ … ]}` whose elements are flat events (or
/// msys-wrapped), or one `{"msys": {…}}` object (element 0). A byte-level scanner finds each element's
/// exact bytes, which become `Event.raw` (and `RejectedRecord.raw`); each element is decoded on its own.
/// Mapping (domain.md §2, §5.2, §8):
/// - `injection` → `relay`; `delivery` → `delivered`; `bounce` → `bounce` (final, in band);
///   `out_of_band` → `bounce` (final, not in band); `policy_rejection`, `generation_failure`,
///   `generation_rejection` (group `message_event` or `gen_event`) → `bounce` (final, `beforeRelay`);
///   `delay` → `retry` (not final, never hard); `spam_complaint` → `complaint`; `list_unsubscribe`,
///   `link_unsubscribe` → `unsubscribe`; anything else (`open`, `initial_open`, `click`, `amp_*`,
///   `sms_status`, `relay_*`, unknown types) is counted in ``ParsedInput/skipped`` by type name;
/// - `bounce_class` (number or string) on a `bounce` / `out_of_band`: auto-reply classes (60, 100) make
///   an `autoReply`, 90 an `unsubscribe`, 80 is skipped as `subscribe`; failure classes qualify the
///   event. A `bounce` / `out_of_band` whose `raw_reason`/`reason` or enhanced code is a timeout
///   (`BounceClassTable.isTimeoutText`) becomes a `timeout` qualified by its class. On the other failure
///   types a non-failure class is ignored. Without a failure class: the text rules (`TextQualifier`) on
///   the response, except a policy or generation rejection (Admin, as class 25) and a generation
///   failure (as class 1, Not defined). Timeouts and caps as for JSON Lines;
/// - delivery id: `campaign_id`, or `transmission_id` when `campaign_id` is missing or empty, or the
///   ``IngestOptions/deliveryKey``; recipient: `rcpt_to`, or `raw_rcpt_to`, normalised; `occurredAt`:
///   `timestamp` as an epoch number / digit string / RFC 3339 text (same rule as JSON Lines);
///   `smtpCode`: `error_code`; `enhancedStatus`: the first RFC 3463 code in `raw_reason`, else in
///   `reason`; `response`: `raw_reason`, else `reason`; `attempt`: `num_retries`; numbers may be
///   strings of digits, any other string in a numeric field is an error naming it;
/// - event id: `sparkpost:<type>:<event_id>` (the type is part of the key because documentation
///   samples reuse one `event_id` for every type, domain.md §2), or `sparkpost:<type>:sha256:<hex>`
///   of the element's bytes when `event_id` is missing.
///
/// ## Errors
/// Every event is checked with `Event.validate()`; its errors are reported with the source's field
/// name. The first bad record stops the read, unless ``IngestOptions/skipInvalid`` collects bad
/// records in ``ParsedInput/rejected``. A broken document structure (an element cut short, a missing
/// `]`) ends the read at that point: the bytes from there to the end form one rejected record.
public enum FeedReader {
    /// The length of the UTF-8 byte order mark `bytes` start with (3), or 0. A mark before a feed
    /// (a file saved by a Windows editor) is no part of it: every reader reads from after it.
    static func byteOrderMarkLength(_ bytes: some Collection<UInt8>) -> Int {
        bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
    }

    /// Reads events from bytes.
    ///
    /// - Parameters:
    ///   - bytes: the whole input (a file's contents, a request body).
    ///   - file: the input's name, used in errors only.
    ///   - options: format, SparkPost delivery key, whether to skip bad records.
    /// - Returns: the events in input order, the skipped type counts and the rejected records.
    /// - Throws: the **first** ``IngestError`` (file, line or element, field), unless
    ///   ``IngestOptions/skipInvalid`` is set; even then, an input whose format cannot be told or
    ///   whose top level is not a SparkPost document is an error.
    public static func read(_ bytes: [UInt8], file: String, options: IngestOptions) throws(IngestError) -> ParsedInput {
        let start = byteOrderMarkLength(bytes)
        let format = options.format == .auto ? try detect(bytes, from: start, file: file) : options.format
        switch format {
        case .jsonl, .auto:
            return try CanonicalLineReader.read(bytes, from: start, file: file, skipInvalid: options.skipInvalid)
        case .sparkpost:
            return try SparkPostReader.read(bytes, from: start, file: file, deliveryKey: options.deliveryKey,
                                            skipInvalid: options.skipInvalid)
        case .dsn:
            var result = try DSNReader.read(bytes, file: file, options: DSNOptions(
                deliveryHeader: options.deliveryHeader, delivery: options.delivery,
                qualifier: options.qualifier, skipInvalid: options.skipInvalid))
            result.format = .dsn
            return result
        case .ses, .sendgrid, .mailgun, .postmark, .brevo, .mailjet, .postal:
            return try ProviderReader.read(bytes, from: start, file: file, format: format, options: options)
        case .postfix:
            guard let delivery = options.delivery, !delivery.isEmpty else {
                throw IngestError(file: file, field: "delivery", message: "a Postfix log does not name its delivery: give one (--delivery ID)")
            }
            var postfix = PostfixOptions(
                delivery: delivery, year: options.year, reference: options.reference,
                timeZoneOffsetSeconds: options.timeZoneOffsetSeconds, qualifier: options.qualifier, skipInvalid: options.skipInvalid)
            postfix.timeZone = options.timeZone
            return try PostfixLogReader.read(bytes, file: file, options: postfix)
        }
    }

    /// Whether the bytes start like an RFC 5322 message: a header field name and a colon, or an
    /// mbox `From ` line.
    static func looksLikeMail(_ bytes: [UInt8], from start: Int) -> Bool {
        var i = start
        if bytes.count - start >= 5, bytes[start..<start + 5].elementsEqual("From ".utf8) { return true }
        while i < bytes.count, i - start < 80 {
            let b = bytes[i]
            if b == UInt8(ascii: ":") { return i > start }
            guard (b >= 0x21 && b <= 0x7E) else { return false }
            i += 1
        }
        return false
    }

    /// The member names of the object at `start`, in text order, as far as they can be followed
    /// (at most 256 of them; a name or value cut short ends the list).
    static func memberNames(_ scanner: JSONScanner, at start: Int) -> [String] {
        let bytes = scanner.bytes
        var names: [String] = []
        var i = scanner.skipWhitespace(start + 1)
        while i < bytes.count, bytes[i] == JSONScanner.quote, names.count < 256 {
            guard let keyEnd = try? scanner.endOfString(i) else { break }
            names.append(JSONScanner.decodeKey(bytes[(i + 1)..<(keyEnd - 1)]))
            i = scanner.skipWhitespace(keyEnd)
            guard i < bytes.count, bytes[i] == JSONScanner.colon else { break }
            guard let valueEnd = try? scanner.endOfValue(scanner.skipWhitespace(i + 1)) else { break }
            i = scanner.skipWhitespace(valueEnd)
            guard i < bytes.count, bytes[i] == JSONScanner.comma else { break }
            i = scanner.skipWhitespace(i + 1)
        }
        return names
    }

    /// The provider whose webhook has these top-level member names, if any (README "Input: email
    /// service providers", detection): SES `notificationType` / `eventType` or an SNS envelope
    /// (`TopicArn`, or `Type` with `Message`); Mailgun `event-data`, or `event` with `recipient`
    /// (legacy); Postmark `RecordType`; SendGrid `sg_event_id` / `sg_message_id`; Mailjet `mj_*`
    /// fields or `MessageID` with `time`; Postal `payload` with `uuid`; Brevo `message-id` with
    /// `ts_epoch`, `ts_event` or `ts`, or (marketing webhooks) `camp_id` with `ts_event` or `ts_sent`.
    static func providerFormat(names list: [String]) -> InputFormat? {
        let names = Set(list)
        if names.contains("notificationType") || names.contains("eventType") || names.contains("TopicArn")
            || (names.contains("Type") && names.contains("Message") && names.contains("MessageId")) { return .ses }
        if names.contains("event-data") { return .mailgun }
        if names.contains("RecordType") { return .postmark }
        if names.contains("sg_event_id") || names.contains("sg_message_id") { return .sendgrid }
        if names.contains("mj_campaign_id") || names.contains("mj_contact_id") || names.contains("mj_message_id")
            || (names.contains("MessageID") && names.contains("time")) { return .mailjet }
        if names.contains("payload") && names.contains("uuid") { return .postal }
        if names.contains("event") && names.contains("message-id")
            && (names.contains("ts_epoch") || names.contains("ts_event") || names.contains("ts")) { return .brevo }
        if names.contains("event") && names.contains("camp_id") && (names.contains("ts_event") || names.contains("ts_sent")) { return .brevo }
        if names.contains("event") && names.contains("recipient") && !names.contains("kind") && !names.contains("msys") { return .mailgun }
        return nil
    }

    /// Tells the format from the first bytes (see ``FeedReader``).
    static func detect(_ bytes: [UInt8], from start: Int, file: String) throws(IngestError) -> InputFormat {
        let scanner = JSONScanner(bytes: bytes)
        let first = scanner.skipWhitespace(start)
        guard first < bytes.count else { return .jsonl }
        switch bytes[first] {
        case JSONScanner.openBracket:
            // A provider's batch (SendGrid, grouped Mailjet) is told by its first element's names.
            let element = scanner.skipWhitespace(first + 1)
            if element < bytes.count, bytes[element] == JSONScanner.openBrace,
               let provider = providerFormat(names: memberNames(scanner, at: element)) {
                return provider
            }
            return .sparkpost
        case JSONScanner.openBrace:
            let names = memberNames(scanner, at: first)
            if let provider = providerFormat(names: names) { return provider }
            // The first of `kind` (JSON Lines) or `msys`, `results`, `type` (SparkPost) decides.
            var sawCanonicalName = false
            for key in names {
                if key == "kind" { return .jsonl }
                if key == "msys" || key == "results" || key == "type" { return .sparkpost }
                if key == "occurredAt" || key == "delivery" || key == "recipient" { sawCanonicalName = true }
            }
            return sawCanonicalName ? .jsonl : .sparkpost
        default:
            if FormBody.looksLikeForm(bytes, from: first) { return .mailgun }
            if looksLikeMail(bytes, from: first) { return .dsn }
            throw IngestError(file: file, message: "cannot tell the format; use --format" + formatHint(bytes, from: first))
        }
    }

    /// What the first bytes of an input no reader takes say it is, when they say it clearly: a
    /// compressed file (by its magic number), UTF-16 text (by its byte order mark), a Postfix log
    /// (which auto-detection never picks: it needs `--delivery`); empty otherwise.
    static func formatHint(_ bytes: [UInt8], from first: Int) -> String {
        let head = bytes[first..<min(bytes.count, first + 4096)]
        func starts(_ magic: [UInt8]) -> Bool { head.starts(with: magic) }
        let compressed: String? =
            starts([0x1F, 0x8B]) ? "gzip" : starts([0x28, 0xB5, 0x2F, 0xFD]) ? "zstd" : starts(Array("BZh".utf8)) ? "bzip2"
            : starts([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) ? "xz" : starts([0x50, 0x4B, 0x03, 0x04]) ? "zip" : nil
        if let compressed {
            return " (the input is \(compressed)-compressed: the ledger reads it decompressed, e.g. `ledger ingest <(zcat FILE)` or `zcat FILE | ledger ingest -`)"
        }
        if starts([0xFF, 0xFE]) || starts([0xFE, 0xFF]) {
            return " (the input is UTF-16 text: the ledger reads UTF-8 (RFC 8259 §8.1); convert it, e.g. `iconv -f UTF-16 -t UTF-8`)"
        }
        let line = head.prefix { $0 != 0x0A }
        if line.firstRange(of: Array(" postfix/".utf8)) != nil || line.firstRange(of: Array(" postfix-".utf8)) != nil {
            return " (it looks like a Postfix log: --format postfix --delivery ID)"
        }
        return ""
    }
}
