import Crypto
import DeliveryLedger

/// Options of one ``DSNReader`` read.
public struct DSNOptions: Sendable {
    /// The header that carries the delivery id, looked up in the returned original message, then in
    /// the bounce's own headers (default `X-Delivery-ID`).
    public var deliveryHeader: String = "X-Delivery-ID"
    /// The delivery id to use when the message names none (`nil`: such a message is an error).
    public var delivery: String? = nil
    /// The text qualifier (rule table) used for the diagnostics (default: the built-in table).
    public var qualifier: TextQualifier = .builtIn
    /// When `true`, a bad message or recipient block does not stop the read: it is returned in
    /// ``ParsedInput/rejected`` and the good recipients are returned as events.
    public var skipInvalid: Bool = false

    /// Creates read options.
    ///
    /// - Parameters:
    ///   - deliveryHeader: the header carrying the delivery id (`X-Delivery-ID` by default).
    ///   - delivery: the fallback delivery id, `nil` by default.
    ///   - qualifier: the text qualifier, ``TextQualifier/builtIn`` by default.
    ///   - skipInvalid: collect bad records instead of failing, `false` by default.
    public init(deliveryHeader: String = "X-Delivery-ID", delivery: String? = nil,
                qualifier: TextQualifier = .builtIn, skipInvalid: Bool = false) {
        self.deliveryHeader = deliveryHeader
        self.delivery = delivery
        self.qualifier = qualifier
        self.skipInvalid = skipInvalid
    }
}

/// Reads one bounce message (an `.eml` file: RFC 5322 + MIME) into ledger events
/// (``SourceFormat/dsn``; domain.md §2, §8; reference/mta.md §5).
///
/// ## What a message becomes
/// - **RFC 3464 delivery status notification** (`multipart/report; report-type=delivery-status`, or
///   any message with a `message/delivery-status` / `message/global-delivery-status` part): one event
///   per per-recipient block, by `Action:` —
///   - `failed` → `bounce`, final, `inBand: false` (an asynchronous bounce); a `timeout` instead when
///     the status is 4.x.x and the diagnostic's reply is not permanent (the MTA gave up after temporary
///     errors: domain.md §1), or X.4.7, or the text
///     says the message expired / delivery time expired. A temporary result is never hard;
///   - `delayed` → `retry`; `delivered`, `relayed`, `expanded` (delivered, then forwarded by an alias:
///     RFC 3464 §2.3.3) → `delivered`; the non-standard `expired` → `timeout`;
///     `deliverable` / `undeliverable` (Postfix address verification) → skipped as `address verification`;
///   - without an `Action:`, the status class decides: 2 → delivered, 5 → failed, 4 → failed when the
///     report says delivery failed, else delayed.
///   The diagnostic (`Diagnostic-Code:` without its type, unfolded) is qualified with
///   `options.qualifier.qualify(text: diagnostic, enhancedStatus: status, replyCode: nil)`, so a
///   specific code in the diagnostic beats a generic `Status: 5.0.0`; the event carries the
///   qualification, `qualifier` = the result's `qualifierTag`, `smtpCode`, `enhancedStatus` (the code
///   the decision used, else `Status:`) and `response` (the text qualified). When the diagnostic is
///   missing or says nothing a rule recognises, the human-readable part's text about that recipient
///   is added (Postfix writes the remote reply there); when that text names the SMTP command the
///   reply answered and the diagnostic does not, the words naming it are added in parentheses
///   (`(in reply to RCPT TO command)`, `(>>> DATA)`; ``SMTPCommand/evidence(in:)``): the rule table's
///   `smtpCommand` conditions read them (a "user unknown" after DATA is a refused message, not an
///   unknown address; RFC 5321 §3.3).
///   A `timeout` carries the last error's reason (the diagnostic qualified without the X.4.7 status;
///   Unreachable when that is not defined), type soft (domain.md §4).
///   Reports bend the grammar: blocks are told apart by their fields (a repeated `Final-Recipient`
///   starts a new recipient even without an empty line); a report without MIME structure (no
///   delimiters, or a boundary that does not match) is found by its `Reporting-MTA:` /
///   `Final-Recipient:` lines; a bounce forwarded as a `message/rfc822` attachment is read inside.
/// - **ARF feedback report** (RFC 5965, a `message/feedback-report` part): one `complaint` per
///   `Original-Rcpt-To` (else `Removal-Recipient`, else the address in the returned message's `To:`),
///   occurredAt `Arrival-Date` / `Received-Date`. A report naming no recipient is skipped
///   (`complaint without recipient`); so is a report whose `Feedback-Type` is `auth-failure` (RFC
///   6591: an SPF/DKIM/DMARC failure report about the message, not a user's complaint) or `not-spam`
///   (`feedback report auth-failure`, `feedback report not-spam`): they never denylist the recipient.
/// - **Amazon SES notification** received by e-mail (the JSON document of an SNS e-mail subscription:
///   `notificationType` Bounce / Complaint / Delivery): one `bounce` per bounced recipient (a
///   `Transient` bounce is never hard), `complaint` per complained recipient, `delivered` per
///   delivered recipient; the delivery id may come from `mail.headers`.
/// - **Message disposition notification** (RFC 8098 read receipt, `report-type=disposition-notification`
///   or a `message/disposition-notification` part): counted in ``ParsedInput/skipped``, no event — it
///   says what the recipient did with a delivered message (displayed, deleted…), never a failure.
/// - **Auto-reply** (RFC 3834 `Auto-Submitted:` other than `no`, `X-Autoreply`, `Precedence:
///   auto_reply`, vacation / out-of-office subjects) that is not a bounce: one `autoReply` for the
///   address the answered message went to when the reply quotes it (the `To:` of its returned headers,
///   or of the header block quoted in its text with the delivery header, when it names one address),
///   else for the `From:` address; no qualification; one without a delivery id (no header, no `--delivery`) is
///   counted in ``ParsedInput/skipped`` as `auto-reply without delivery id`, not an error. Bounces carry `Auto-Submitted` too, so a message from a
///   mailer-daemon / postmaster, with `X-Failed-Recipients` or a bounce subject is read as a bounce;
///   failure wording in the text alone does not make an auto-reply a bounce ("could not be delivered to
///   me right now: I am on vacation").
/// - **A plain-text delivery or read receipt** (``DSNPlainText/isSuccessNotice(_:notification:)``:
///   a "Delivered:", "Relayed:", "Read:", "(Success)" or GroupWise "Message status - delivered"
///   subject over a text without failure wording): counted in ``ParsedInput/skipped``, no event.
/// - **Other bounce messages** (plain-text bounces of qmail, Exim, old Sendmail, webmail providers…):
///   the notification text (text parts, HTML reduced to text when there is no plain part, the
///   returned message cut off at its marker line or at its first header block) is searched for the
///   failed recipients (`X-Failed-Recipients:`, else the addresses the text reports — not the
///   sender's, the bounce's own, postmaster / mailer-daemon, `From:` / `MAIL FROM` / `Message-ID`
///   lines — else the returned message's `To:`, else `X-Original-To:`) and for each recipient's error
///   text (the lines from each mention of the address to the next recipient's, with the transcript
///   lines just before it), qualified as above; when that text says nothing a rule recognises, the
///   whole notification is qualified. A failure becomes a final `bounce` (`timeout` when the text
///   says the message expired, `retry` when it says delivery is only delayed).
/// Anything else is an error ("not a bounce, auto-reply or feedback report").
///
/// ## Fields
/// - delivery id: the `options.deliveryHeader` header in the returned original message
///   (`message/rfc822` or `text/rfc822-headers` part, or a copy of its headers quoted in the text),
///   else in the bounce's own headers, else `options.delivery`, else an error whose field is the
///   header name;
/// - recipient: `Original-Recipient` when it is an address — the address the sender gave (RFC 3464
///   §2.3.1; RFC 3461's ORCPT), the one the message's relay was recorded for, when an alias or a
///   forward made the final one differ — else `Final-Recipient` (the address after `rfc822;` or, RFC 6533
///   §3, `utf-8;` with its `\x{HEX}` escapes decoded), else (neither is an address) the address the
///   notification reports at the same position; normalised with `Address.normalize`. The text about
///   the recipient is looked up under the final address (Postfix writes "<final> (expanded from <original>)");
/// - occurredAt: `Last-Attempt-Date`, else `Arrival-Date`, else the bounce's `Date:` header, else the
///   date of its first `Received:` header (when the bounce reached the mailbox), else the date of the
///   returned message's first (newest) `Received:` header — in a `message/rfc822` or
///   `text/rfc822-headers` part, or in a copy of its headers quoted in the text (Exim's "The header of
///   the original message is following"): that stamp was written by the MTA that then reported the
///   failure when the message reached it, the instant RFC 3464 §2.2.5 calls `Arrival-Date`, an
///   earlier bound of the failure that a report without any date of its own still carries; RFC 5322 date-time,
///   lenient (obsolete zones, missing weekday, two-digit years, see `MIMEDate`); an unreadable date
///   falls through to the next; none → an error (field `Date`);
/// - event id: `dsn:` + the hex of the first 16 bytes of the SHA-256 of the message bytes + `:` + the
///   1-based index of the recipient in the message;
/// - raw: for an RFC 3464 report, its per-message fields (`Reporting-MTA`, …), an empty line and the
///   recipient's block (bytes as decoded from the report part) — what host-aware rules read
///   (``QualificationContext``) — and, when the diagnostic names the envelope sender, an empty line
///   and the returned message's `Return-Path:` field (``SMTPCommand/implied(byReply:recipient:raw:)``, not when that
///   address is a recipient of the report:
///   the reply is then qualified as a reply to `MAIL`, a failure of the sender); the whole message otherwise.
///
/// ## Bad input
/// Messages over ``maximumMessageSize``, binary data (NUL or many control bytes), a file with no
/// header fields, a bounce in which no recipient can be found, and a message that is none of the
/// above are errors (with ``DSNOptions/skipInvalid``: one rejected record holding the whole
/// message); a bad recipient block is an error of its own (or a rejected record holding the block,
/// next to the good recipients' events). A multipart whose `boundary` parameter is missing or never
/// occurs is read with the delimiter found in the body (a `--token` line followed by a `Content-`
/// header); when there is none and nothing else is readable, the error names the defect. A multipart
/// cut short (no closing delimiter) is read as far as it goes. Every loop is bounded; the parser
/// caps header counts, field length, nesting depth (12) and part count (512), and the texts given
/// to the qualifier (``maximumDiagnosticLength``).
public enum DSNReader {
    /// The largest message read, in bytes (32 MiB).
    public static let maximumMessageSize = 32 * 1024 * 1024
    /// The longest diagnostic text kept as ``Event/response`` and qualified, in UTF-8 bytes.
    public static let maximumDiagnosticLength = 4096

    /// Reads one bounce message.
    ///
    /// - Parameters:
    ///   - bytes: the message (an `.eml` file), CRLF or LF line ends.
    ///   - file: the file name, for errors.
    ///   - options: see ``DSNOptions``.
    /// - Returns: the events (``ParsedInput/format`` is ``InputFormat/dsn``), skipped counts and,
    ///   with ``DSNOptions/skipInvalid``, rejected records.
    /// - Throws: ``IngestError`` for a bad message (see the type's documentation), unless
    ///   ``DSNOptions/skipInvalid``.
    public static func read(_ bytes: [UInt8], file: String, options: DSNOptions = DSNOptions()) throws(IngestError) -> ParsedInput {
        // A UTF-8 byte order mark before the first header field (a message saved by a Windows
        // editor) is no part of the message (RFC 5322 has none): read without it, as the JSON readers do.
        let mark = FeedReader.byteOrderMarkLength(bytes)
        if mark > 0 { return try read(Array(bytes.dropFirst(mark)), file: file, options: options) }
        var context = DSNContext(bytes: bytes, file: file, options: options)
        do {
            try context.run()
        } catch {
            guard options.skipInvalid else { throw error }
            context.result.rejected.append(RejectedRecord(error: error, raw: bytes))
        }
        return context.result
    }
}

/// The state of one read (internal).
struct DSNContext {
    let bytes: [UInt8]
    let file: String
    let options: DSNOptions
    var result = ParsedInput(format: .dsn)
    var message: MIMEEntity! = nil
    /// The recipients the notification text reports (computed once, when a report block names none).
    var reportedRecipients: [String]? = nil
    lazy var idPrefix: String = {
        let digest = SHA256.hash(data: bytes)
        let hex = Array("0123456789abcdef".utf8)
        var out: [UInt8] = Array("dsn:".utf8)
        for (n, byte) in digest.enumerated() where n < 16 {
            out.append(hex[Int(byte >> 4)]); out.append(hex[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }()

    init(bytes: [UInt8], file: String, options: DSNOptions) {
        self.bytes = bytes
        self.file = file
        self.options = options
    }

    func fail(_ field: String?, _ message: String) -> IngestError {
        IngestError(file: file, field: field, message: message)
    }

    // MARK: Top level

    mutating func run() throws(IngestError) {
        guard !bytes.isEmpty else { throw fail(nil, "empty file: not an email message") }
        guard bytes.count <= DSNReader.maximumMessageSize else {
            throw fail(nil, "message of \(bytes.count) bytes is larger than the \(DSNReader.maximumMessageSize)-byte limit")
        }
        if let why = DSNContext.binaryReason(bytes) { throw fail(nil, "not an email message: \(why)") }
        message = MIME.parse(bytes)
        let headers = message.headers
        let known = ["from", "to", "subject", "date", "received", "return-path", "message-id", "content-type", "mime-version", "delivered-to", "x-failed-recipients"]
        let knownCount = headers.fields.filter { known.contains($0.name.lowercased()) }.count
        guard knownCount >= 1, headers.fields.count >= 2 else {
            throw fail(nil, "not an email message (RFC 5322): no header fields such as From:, Date:, Subject:")
        }
        // A bounce forwarded as an attachment (message/rfc822 holding a report): read the report.
        var entities = message.allEntities
        let reportTypes: Set<String> = ["message/delivery-status", "message/global-delivery-status", "message/feedback-report"]
        if !entities.contains(where: { reportTypes.contains($0.contentType.mimeType) }) {
            for e in entities where e.contentType.mimeType == "message/rfc822" {
                var budget = MIME.maximumParts
                let inner = MIME.parse(e.decodedBody[...], depth: 1, partBudget: &budget)
                if inner.allEntities.contains(where: { reportTypes.contains($0.contentType.mimeType) }) {
                    message = inner
                    entities = inner.allEntities
                    break
                }
            }
        }
        let reportType = message.contentType.parameters["report-type"]?.lowercased()

        // ARF feedback report (RFC 5965).
        if let feedback = entities.first(where: { $0.contentType.mimeType == "message/feedback-report" }) {
            try readFeedback(feedback, entities: entities)
            return
        }
        if reportType == "feedback-report" {
            throw fail("Content-Type", "feedback report without a message/feedback-report part (truncated?)")
        }

        // RFC 8098 message disposition notification (a read receipt: displayed, deleted, dispatched,
        // processed) — about what the recipient did with a delivered message, never a failure.
        let dispositionTypes: Set<String> = ["message/disposition-notification", "message/global-disposition-notification"]
        if reportType == "disposition-notification" || entities.contains(where: { dispositionTypes.contains($0.contentType.mimeType) }) {
            result.skipped["disposition notification (read receipt, RFC 8098)", default: 0] += 1
            return
        }

        // RFC 3464 delivery status notification.
        var statusParts = entities.filter {
            let t = $0.contentType.mimeType
            return t == "message/delivery-status" || t == "message/global-delivery-status"
        }
        if statusParts.isEmpty, reportType == "delivery-status" {
            // Some MTAs label the status part text/plain: take a part holding per-recipient fields.
            statusParts = entities.filter { $0.parts.isEmpty && $0.contentType.type == "text" && DSNStatusReport.looksLikeStatusFields($0.text) }
        }
        var reports: [DSNStatusReport] = []
        for part in statusParts {
            let report = DSNStatusReport(part.decodedBody)
            if !report.recipients.isEmpty { reports.append(report) }
        }
        if reports.isEmpty, reportType == "delivery-status" || DSNPlainText.isBounce(message, notification: "") {
            // A report without MIME structure (no delimiters, or a broken boundary): the fields
            // inside a text part or the body.
            for part in entities where part.parts.isEmpty && (part.contentType.type == "text" || part.contentType.isMultipart) {
                let body = part.contentType.isMultipart ? Array(part.body) : part.decodedBody
                if let start = DSNStatusReport.embeddedStart(in: body) {
                    let report = DSNStatusReport(body, from: start)
                    if !report.recipients.isEmpty { reports.append(report); break }
                }
            }
        }
        if !reports.isEmpty {
            try readStatusReports(reports)
            return
        }

        // Amazon SES notification (JSON) received by e-mail.
        let (notification, truncated) = DSNPlainText.readNotification(of: message)
        if notification.contains("notificationType"), let ses = DSNAmazonSES.notification(in: notification) {
            try readSES(ses)
            return
        }

        // Plain-text bounce, or auto-reply.
        let bounceSignals = DSNPlainText.isBounce(message, notification: notification)
        if !DSNPlainText.hasBounceHeaders(message), DSNPlainText.isAutoReply(message) {
            try readAutoReply()
            return
        }
        if reportType != "delivery-status", DSNPlainText.isSuccessNotice(message, notification: notification) {
            result.skipped["delivery or read receipt (no failure)", default: 0] += 1
            return
        }
        if bounceSignals || reportType == "delivery-status" {
            try readPlainBounce(notification, truncated: truncated)
            return
        }
        if let defect = message.allDefects.first {
            throw fail("Content-Type", "not a readable bounce: \(defect)")
        }
        throw fail(nil, "not a delivery status notification, bounce message, auto-reply or feedback report")
    }

    /// Why `bytes` are not text, or `nil`: a NUL byte in the header block, or more than 2 % NUL and
    /// control bytes in the first 8 KiB (a stray NUL in a returned attachment is tolerated).
    static func binaryReason(_ bytes: [UInt8]) -> String? {
        let sample = bytes.prefix(8192)
        var controls = 0
        var inHeader = true
        var previous: UInt8 = 0
        for b in sample {
            if b == 0x0A && previous == 0x0A { inHeader = false }
            if b != 0x0D { previous = b }
            if b == 0 && inHeader { return "binary data (NUL bytes)" }
            if b < 0x20 && b != 0x09 && b != 0x0A && b != 0x0D && b != 0x1B && b != 0x0C { controls += 1 }
        }
        if controls * 50 > sample.count { return "binary data (\(controls) control bytes in the first \(sample.count))" }
        return nil
    }

    // MARK: Shared fields

    /// The delivery id (see ``DSNReader``).
    func deliveryId(quotedIn text: String? = nil) throws(IngestError) -> String {
        let header = options.deliveryHeader
        for original in DSNContext.returnedHeaders(in: message) {
            if let v = original[header].map({ MIME.decodeEncodedWords($0).mimeTrimmed() }), !v.isEmpty { return String(v.prefix(Event.maximumIdLength)) }
        }
        if let text, let v = DSNPlainText.quotedHeader(header, in: text) { return v }
        // An X- field is unstructured text: a non-ASCII id comes as RFC 2047 encoded words (§5(1)).
        if let v = message.headers[header].map({ MIME.decodeEncodedWords($0).mimeTrimmed() }), !v.isEmpty { return String(v.prefix(Event.maximumIdLength)) }
        if let d = options.delivery, !d.isEmpty { return d }
        throw fail(header, "missing: no \(header) header in the returned message or the bounce, and no delivery id given (ledger ingest --delivery ID gives one for bounces without it; --delivery-header NAME reads another header)")
    }

    /// The returned message's `Return-Path:` value (its envelope sender, RFC 5321 §4.4), trimmed;
    /// `nil` when no returned header block has one with an address.
    var returnedReturnPath: String? {
        for original in DSNContext.returnedHeaders(in: message) {
            if let v = original["Return-Path"].map({ $0.mimeTrimmed() }), v.contains("@") { return String(v.prefix(512)) }
        }
        return nil
    }

    /// The header blocks of the returned original messages (`message/rfc822`, `text/rfc822-headers`).
    static func returnedHeaders(in message: MIMEEntity) -> [MIMEHeaders] {
        var out: [MIMEHeaders] = []
        for e in message.allEntities where e.contentType.mimeType == "message/rfc822" || e.contentType.mimeType == "message/global"
            || e.contentType.mimeType.hasPrefix("text/rfc822-header") || e.contentType.mimeType == "message/global-headers" {
            out.append(MIME.parseHeaders(e.decodedBody[...]).headers)
        }
        return out
    }

    /// The instant of the first readable date among `candidates`, else the message's `Date:`.
    func occurredAt(_ candidates: [String?]) throws(IngestError) -> Instant {
        for c in candidates {
            if let text = c, let instant = MIMEDate.parse(text) { return instant }
        }
        if let d = message.headers["Date"], let instant = MIMEDate.parse(d) { return instant }
        // The bounce's own trace fields: when it reached this mailbox (RFC 5322 §3.6.7).
        for received in message.headers.all("Received") {
            if let instant = Self.traceDate(received) { return instant }
        }
        // The returned message's newest trace field: when it reached the MTA that reports the failure
        // (RFC 3464 §2.2.5 Arrival-Date), for a report that carries no date of its own.
        if message.headers["Date"] == nil {
            // The newest readable stamp (the first field; an unreadable one falls through to the next).
            for original in DSNContext.returnedHeaders(in: message) {
                for received in original.all("Received") { if let instant = Self.traceDate(received) { return instant } }
            }
            for received in DSNPlainText.quotedFields("Received", in: DSNPlainText.fullText(message)) {
                if let instant = Self.traceDate(received) { return instant }
            }
        }
        guard let date = message.headers["Date"] else {
            throw fail("Date", "missing: no Last-Attempt-Date, Arrival-Date, Date or Received header with a date, in the report or in the returned message")
        }
        if let instant = MIMEDate.parseAnyInstant(date) {
            throw fail("Date", "'\(date.prefix(60))' is \(instant.rfc3339), outside the instants the ledger records (\(Instant.earliest.rfc3339) to \(Instant.latest.rfc3339))")
        }
        throw fail("Date", "'\(date.prefix(60))' is not an RFC 5322 date-time")
    }

    /// The date-time after the `;` of a `Received:` field's value (RFC 5322 §3.6.7), if readable:
    /// after the last `;`, else after an earlier one (a comment after the date may hold a `;`).
    static func traceDate(_ received: String) -> Instant? {
        var end = received.endIndex
        while let semicolon = received[..<end].lastIndex(of: ";") {
            if let instant = MIMEDate.parse(String(received[received.index(after: semicolon)...])) { return instant }
            end = semicolon
        }
        return nil
    }

    mutating func append(_ event: Event, raw: [UInt8], fields: [String: String]) throws(IngestError) {
        do {
            try event.validate()
        } catch {
            let name = error.field == "delivery" ? options.deliveryHeader : (fields[error.field] ?? error.field)
            let e = fail(name, error.message)
            guard options.skipInvalid else { throw e }
            result.rejected.append(RejectedRecord(error: e, raw: raw))
            return
        }
        result.events.append(event)
    }

    // MARK: RFC 3464

    mutating func readStatusReports(_ reports: [DSNStatusReport]) throws(IngestError) {
        if let cut = reports.first(where: \.recipientsLeftOut) {
            throw fail("Final-Recipient", "a delivery-status report with more than \(DSNStatusReport.maximumRecipients) recipient blocks "
                       + "(\(cut.recipients.count) read), the most the reader reads from one message: refused whole rather than read in part")
        }
        let delivery = try deliveryId(quotedIn: DSNPlainText.fullText(message))
        let notification = DSNPlainText.notification(of: message)
        let failedWording = DSNPlainText.saysFailed(notification + " " + (message.headers["Subject"] ?? ""))
        var index = 0
        let lines = DSNPlainText.Lines(notification)
        let allRecipients = reports.flatMap { $0.recipients }.compactMap { b in
            DSNStatusReport.address(b.fields["Final-Recipient"]).flatMap(Address.normalize) ?? DSNStatusReport.address(b.fields["Original-Recipient"]).flatMap(Address.normalize)
        }
        for report in reports {
            for block in report.recipients {
                index += 1
                do {
                    try readRecipient(block, perMessage: report.perMessage, perMessageRaw: report.perMessageRaw, index: index, delivery: delivery,
                                      notification: notification, lines: lines, failedWording: failedWording,
                                      allRecipients: allRecipients)
                } catch {
                    guard options.skipInvalid else { throw error }
                    result.rejected.append(RejectedRecord(error: error, raw: block.raw))
                }
            }
        }
    }

    mutating func readRecipient(_ block: DSNStatusReport.Block, perMessage: MIMEHeaders, perMessageRaw: [UInt8], index: Int, delivery: String,
                                notification: String, lines: DSNPlainText.Lines, failedWording: Bool,
                                allRecipients: [String]) throws(IngestError) {
        let f = block.fields
        var recipientField = f["Final-Recipient"] != nil ? "Final-Recipient" : "Original-Recipient"
        var recipientText = DSNStatusReport.address(f["Final-Recipient"])
        let original = DSNStatusReport.address(f["Original-Recipient"]).flatMap { Address.normalize($0) == nil ? nil : $0 }
        if recipientText.flatMap(Address.normalize) == nil, let original {
            recipientText = original
        }
        if recipientText.flatMap(Address.normalize) == nil {
            // Not an address (anonymised or broken): the address the notification reports at the
            // same position, if any.
            if reportedRecipients == nil { reportedRecipients = DSNPlainText.failedRecipients(message: message, notification: notification) }
            let reported = reportedRecipients ?? []
            if index - 1 < reported.count { recipientText = reported[index - 1] }
        }
        guard let given = recipientText, !given.isEmpty else {
            throw fail(recipientField, "missing: a per-recipient block needs Final-Recipient or Original-Recipient")
        }
        var recipient: String
        do { recipient = try Address.parse(given) } catch {
            throw fail(recipientField, "'\(given.prefix(80))' is not an address: \(error)")
        }
        // The text about this recipient names the final address (Postfix: "<final> (expanded from
        // <original>)"); the event is the original's — the address the sender gave (RFC 3464
        // §2.3.1, Original-Recipient; the ORCPT of RFC 3461 §4.2), the one its relay was recorded for.
        let textRecipient = recipient
        if let original, let o = try? Address.parse(original), o != recipient {
            recipient = o
            recipientField = "Original-Recipient"
        }
        let statusText = f["Status"].map { MIME.removingComments($0).mimeTrimmed() }
        let status = statusText.flatMap { TextQualifier.enhancedStatus(in: $0) }
        var action = (f["Action"] ?? "").split(whereSeparator: { $0 == " " || $0 == "(" || $0 == ";" }).first.map { $0.lowercased() } ?? ""
        if action.isEmpty {
            switch status?.statusClass {
            case 2: action = "delivered"
            case 5: action = "failed"
            // Will-Retry-Until is only given for a delayed recipient (RFC 3464 §2.3.8).
            case 4: action = f["Will-Retry-Until"] != nil ? "delayed" : failedWording ? "failed" : "delayed"
            default: action = "failed"
            }
        }
        var diagnostic = DSNPlainText.capped(DSNStatusReport.diagnosticText(f["Diagnostic-Code"]))
        // A recipient delivered, relayed or expanded keeps its own diagnostic only: the human-readable
        // part of a report speaks of the recipients that failed (RFC 3464 §2.1), and its text would
        // become this delivery's response ("MTA said") and codes.
        let succeeded = ["delivered", "relayed", "success", "sent", "expanded"].contains(action)
        if !succeeded, diagnostic.isEmpty || DSNPlainText.isUninformative(diagnostic) || !specific(diagnostic) {
            // The human-readable part often says more (Postfix writes the remote reply there).
            var fromText = DSNPlainText.errorText(for: textRecipient, others: allRecipients, in: lines)
            if fromText.isEmpty || (!specific(fromText) && allRecipients.count <= 1) { fromText = DSNPlainText.capped(notification) }
            if !fromText.isEmpty, diagnostic.isEmpty || specific(fromText) || DSNPlainText.isUninformative(diagnostic) {
                diagnostic = diagnostic.isEmpty ? fromText : diagnostic + " " + fromText
            }
        }
        // The SMTP command the reply answered matters (RFC 5321 §3.3: recipients are refused at
        // RCPT TO, the message after DATA); the Diagnostic-Code rarely says it, the human-readable
        // text often does (Postfix 'in reply to RCPT TO command', Sendmail '>>> DATA', Exim 'after
        // RCPT TO:<…>'), so its words are added, in parentheses, for the rule table's smtpCommand conditions.
        let segment = DSNPlainText.errorText(for: textRecipient, others: allRecipients, in: lines)
        if !succeeded, let said = SMTPCommand.evidence(in: segment), SMTPCommand.find(in: diagnostic) == nil {
            diagnostic = diagnostic.isEmpty ? segment : diagnostic + " (" + said.words + ")"
        }
        diagnostic = DSNPlainText.capped(diagnostic)
        let occurredAt = try occurredAt([f["Last-Attempt-Date"], perMessage["Arrival-Date"]])

        // The event's raw bytes: the report's per-message fields (Reporting-MTA, RFC 3464 §2.2),
        // then the recipient's block (Remote-MTA, §2.3) — what host-aware rules read (QualificationContext).
        var raw = perMessageRaw.isEmpty ? block.raw : perMessageRaw + [0x0A, 0x0A] + block.raw
        // When the diagnostic names the envelope sender, the returned message's Return-Path field
        // follows: the evidence that the reply is about the sender (SMTPCommand.implied).
        // Not when the address is one of the report's recipients (then the text may be about that one).
        if let returnPath = returnedReturnPath,
           !allRecipients.contains(where: { $0.lowercased() == returnPath.filter({ $0 != "<" && $0 != ">" && $0 != " " }).lowercased() }) {
            let withField = raw + [0x0A, 0x0A] + Array("Return-Path: \(returnPath)".utf8)
            if SMTPCommand.implied(byReply: diagnostic, recipient: recipient, raw: withField) != nil { raw = withField }
        }
        // Read from the event's raw bytes, as re-projection reads it.
        let command = SMTPCommand.implied(byReply: diagnostic, recipient: recipient, raw: raw)
        let context = options.qualifier.hasHostAwareRules
            ? QualificationContext(recipient: recipient, response: diagnostic.isEmpty ? nil : diagnostic, raw: raw, source: .dsn) : .none
        let outcome: DSNOutcome
        switch action {
        case "failed", "failure", "bounced", "undelivered", "expired":
            // A failed action with a temporary status: the MTA gave up after temporary errors, a
            // timeout (domain.md §1: "DSN `Action: failed` + 4.x.x/X.4.7"; RFC 3464 §2.3.3) — unless
            // the diagnostic's own reply is permanent (5xx or 5.x.x): the last attempt was then refused
            // for good, a bounce whatever the Status field says.
            let diagnosticCode = TextQualifier.enhancedStatus(in: diagnostic)
            let permanentReply = ProviderReader.replyCode(in: diagnostic).map { $0 >= 500 } ?? false || diagnosticCode?.statusClass == 5
            outcome = DSNOutcome.failure(diagnostic: diagnostic, status: status, qualifier: options.qualifier,
                                         expired: action == "expired" || (status?.statusClass == 4 && !permanentReply), smtpCommand: command, context: context)
        case "delayed", "delay", "deferred":
            outcome = DSNOutcome.retry(diagnostic: diagnostic, status: status, qualifier: options.qualifier, smtpCommand: command, context: context)
        case "delivered", "relayed", "success", "sent", "expanded":
            // `expanded`: "delivered to the recipient address as specified by the sender, and
            // forwarded … to multiple additional recipient addresses" (RFC 3464 §2.3.3).
            outcome = DSNOutcome.delivered(diagnostic: diagnostic, status: status)
        case "deliverable", "undeliverable":
            result.skipped["address verification", default: 0] += 1
            return
        default:
            throw fail("Action", "'\(action.prefix(40))' is not an RFC 3464 action (failed, delayed, delivered, relayed, expanded)")
        }
        let event = outcome.event(id: "\(idPrefix):\(index)", delivery: delivery, recipient: recipient, occurredAt: occurredAt, raw: raw)
        try append(event, raw: raw, fields: ["recipient": recipientField, "occurredAt": "Last-Attempt-Date", "enhancedStatus": "Status",
                                                  "smtpCode": "Diagnostic-Code", "response": "Diagnostic-Code"])
    }

    // MARK: Plain-text bounces

    /// A bounce that is not an RFC 3464 report: each failed recipient the notification names, with
    /// the text about it. Read whole or not at all: a notification longer than the reader examines
    /// (``DSNPlainText/maximumNotificationLength``, ``DSNPlainText/maximumLines``) or naming more
    /// than ``DSNStatusReport/maximumRecipients`` recipients is refused with an error, since the
    /// recipients past the limit would otherwise be lost without a word.
    mutating func readPlainBounce(_ notification: String, truncated: Bool) throws(IngestError) {
        let found = DSNPlainText.failedRecipients(message: message, notification: notification)
        guard !truncated else {
            throw fail("body", "a bounce whose notification (before the returned message) is longer than the reader examines "
                       + "(\(DSNPlainText.maximumNotificationLength / 1024) KiB, \(DSNPlainText.maximumLines) lines; \(found.count) recipients "
                       + "found before the limit): refused whole rather than read in part, since recipients past the limit would be lost")
        }
        guard found.count <= DSNStatusReport.maximumRecipients else {
            throw fail("body", "a bounce naming \(found.count) failed recipients, more than the \(DSNStatusReport.maximumRecipients) "
                       + "the reader reads from one message: refused whole rather than read in part")
        }
        let recipients = found
        guard !recipients.isEmpty else {
            let defects = message.allDefects
            throw fail(defects.isEmpty ? "recipient" : "Content-Type", "a bounce message, but no failed recipient address could be found in it"
                       + (defects.isEmpty ? "" : " (\(defects.joined(separator: "; ")))"))
        }
        let delivery = try deliveryId(quotedIn: DSNPlainText.fullText(message))
        let occurredAt = try occurredAt([])
        let whole = DSNPlainText.capped(notification)
        let lines = DSNPlainText.Lines(notification)
        let subject = MIME.decodeEncodedWords(message.headers["Subject"] ?? "")
        let wholeIsSpecific = specific(whole)
        let delayedOnly = DSNPlainText.saysDelayed(notification) && !DSNPlainText.saysFailedPermanently(notification)
        for (n, final) in recipients.enumerated() {
            // An alias or a forward: the text names the final address and the one the sender gave
            // (Postfix "<final> (expanded from <original>)", Exim "(generated from original)"); the
            // event is the original's, the address the relay was recorded for (one event per final
            // address, as RFC 3464 blocks give).
            let recipient = DSNPlainText.originalAddress(of: final, in: notification) ?? final
            var text = DSNPlainText.errorText(for: final, others: recipients, in: lines)
            if text.isEmpty || DSNPlainText.isUninformative(text) || wholeIsSpecific && !specific(text) {
                // The report's text without the other recipients' lines: its common paragraphs may
                // give the reason, another recipient's reply never does.
                text = recipients.count == 1 ? whole : DSNPlainText.commonText(for: final, others: recipients, in: lines)
            }
            let status = TextQualifier.enhancedStatus(in: text)
            let kind: DSNPlainText.PlainKind = DSNPlainText.saysExpired(text + "\n" + subject + (recipients.count == 1 ? "\n" + whole : ""))
                ? .timeout : (delayedOnly ? .retry : .bounce)
            let context = options.qualifier.hasHostAwareRules
                ? QualificationContext(recipient: recipient, response: text.isEmpty ? nil : text, raw: bytes, source: .dsn) : .none
            // A plain-text bounce's raw bytes are the whole message: no Return-Path paragraph closes
            // them, so nothing is implied (SMTPCommand.implied reads only the reader's own evidence).
            let command = SMTPCommand.implied(byReply: text, recipient: recipient, raw: bytes)
            let outcome: DSNOutcome
            switch kind {
            case .retry: outcome = DSNOutcome.retry(diagnostic: text, status: status, qualifier: options.qualifier, smtpCommand: command, context: context)
            case .timeout: outcome = DSNOutcome.failure(diagnostic: text, status: status, qualifier: options.qualifier, expired: true,
                                                        smtpCommand: command, context: context)
            default: outcome = DSNOutcome.failure(diagnostic: text, status: status, qualifier: options.qualifier, expired: false,
                                                  smtpCommand: command, context: context)
            }
            let event = outcome.event(id: "\(idPrefix):\(n + 1)", delivery: delivery, recipient: recipient, occurredAt: occurredAt, raw: bytes)
            try append(event, raw: bytes, fields: [:])
        }
    }

    /// Whether the qualifier decides `text` with a rule about its content (not only the codes'
    /// class: the `unmatched` fallbacks and the bare reply-code rules).
    func specific(_ text: String) -> Bool {
        guard !text.isEmpty else { return false }
        let r = options.qualifier.qualify(text: text)
        return !r.rule.hasPrefix("unmatched") && r.rule != "temporary-reply" && r.rule != "permanent-reply"
    }

    // MARK: Amazon SES notifications

    mutating func readSES(_ ses: DSNAmazonSES.Notification) throws(IngestError) {
        let header = options.deliveryHeader.lowercased()
        let delivery: String
        if let v = ses.headers.first(where: { $0.name.lowercased() == header }).map({ MIME.decodeEncodedWords($0.value).mimeTrimmed() }), !v.isEmpty {
            delivery = String(v.prefix(Event.maximumIdLength))
        } else {
            delivery = try deliveryId(quotedIn: DSNPlainText.fullText(message))
        }
        guard !ses.items.isEmpty else { throw fail("notificationType", "an Amazon SES notification with no recipient") }
        for (n, item) in ses.items.enumerated() {
            let raw = bytes
            let recipient: String
            do { recipient = try Address.parse(item.recipient) } catch {
                let e = fail("emailAddress", "'\(item.recipient.prefix(80))' is not an address: \(error)")
                guard options.skipInvalid else { throw e }
                result.rejected.append(RejectedRecord(error: e, raw: raw)); continue
            }
            let occurredAt: Instant
            if let t = item.timestamp ?? ses.mailTimestamp, let i = Instant(rfc3339: t) { occurredAt = i } else { occurredAt = try self.occurredAt([]) }
            let id = "\(idPrefix):\(n + 1)"
            var event: Event
            switch item.kind {
            case "complaint":
                event = Event(id: id, kind: .complaint, delivery: delivery, recipient: recipient, occurredAt: occurredAt,
                              response: item.diagnostic.isEmpty ? nil : "complaintFeedbackType: \(item.diagnostic.prefix(64))", source: .dsn, raw: raw)
            case "delivery":
                event = DSNOutcome.delivered(diagnostic: item.diagnostic, status: TextQualifier.enhancedStatus(in: item.diagnostic))
                    .event(id: id, delivery: delivery, recipient: recipient, occurredAt: occurredAt, raw: raw)
            default:
                let diagnostic = DSNPlainText.capped(DSNStatusReport.diagnosticText(item.diagnostic))
                let status = item.status.flatMap { TextQualifier.enhancedStatus(in: $0) }
                var outcome = (item.action ?? "failed").lowercased() == "delayed"
                    ? DSNOutcome.retry(diagnostic: diagnostic, status: status, qualifier: options.qualifier)
                    : DSNOutcome.failure(diagnostic: diagnostic, status: status, qualifier: options.qualifier, expired: false)
                if item.transient { outcome.qualification = outcome.qualification?.temporary }
                event = outcome.event(id: id, delivery: delivery, recipient: recipient, occurredAt: occurredAt, raw: raw)
            }
            try append(event, raw: raw, fields: ["recipient": "emailAddress", "occurredAt": "timestamp", "smtpCode": "diagnosticCode",
                                                 "response": "diagnosticCode", "enhancedStatus": "status"])
        }
    }

    // MARK: Auto-replies (RFC 3834)

    mutating func readAutoReply() throws(IngestError) {
        let from = message.headers["From"] ?? message.headers["Reply-To"] ?? ""
        guard let address = DSNPlainText.addresses(in: from).first, let sender = Address.normalize(address) else {
            throw fail("From", "an auto-reply whose From: '\(from.prefix(80))' is not an address")
        }
        // An out-of-office reply quotes the original message only sometimes: without a delivery id
        // it cannot be attached to a message, and it is no failure — counted as skipped, not an
        // error, so a bounce mailbox (DSNs mixed with auto-replies) ingests as a whole (issue #14).
        let delivery: String
        do { delivery = try deliveryId(quotedIn: DSNPlainText.fullText(message)) } catch {
            result.skipped["auto-reply without delivery id", default: 0] += 1
            return
        }
        // The message it answers went to one address, which the reply quotes (its returned headers,
        // or the header block quoted in its text with the delivery header): that address is the
        // message's, when the reply comes from another (an alias, a forward: "ann.smith@corp" answering
        // for "ann@"). Else the reply's From.
        var recipient = sender
        let quotedTo = DSNContext.returnedHeaders(in: message).compactMap { $0["To"] }.first
            ?? DSNPlainText.quotedBlockHeader("To", anchor: options.deliveryHeader, in: DSNPlainText.fullText(message))
        if let quotedTo {
            let addresses = DSNPlainText.addresses(in: quotedTo)
            if addresses.count == 1, let to = Address.normalize(addresses[0]) { recipient = to }
        }
        let occurredAt = try occurredAt([])
        let subject = MIME.decodeEncodedWords(message.headers["Subject"] ?? "").mimeTrimmed()
        let event = Event(id: "\(idPrefix):1", kind: .autoReply, delivery: delivery, recipient: recipient, occurredAt: occurredAt,
                          response: subject.isEmpty ? nil : String(subject.prefix(998)), source: .dsn, raw: bytes)
        try append(event, raw: bytes, fields: ["recipient": "From"])
    }

    // MARK: ARF (RFC 5965)

    mutating func readFeedback(_ part: MIMEEntity, entities: [MIMEEntity]) throws(IngestError) {
        let report = MIME.parseHeaders(part.decodedBody[...]).headers
        // Feedback types that are no one's complaint: an authentication failure report (RFC 6591,
        // DMARC failure reporting) describes the message's SPF/DKIM results, and `not-spam` says the
        // opposite of a complaint (IANA Feedback Report Type registry). Neither may denylist the recipient.
        let type = (report["Feedback-Type"] ?? "abuse").mimeTrimmed().lowercased()
            .prefix { $0 != " " && $0 != ";" && $0 != "(" }
        if type == "auth-failure" || type == "not-spam" {
            result.skipped["feedback report \(type)", default: 0] += 1
            return
        }
        var candidates = report.all("Original-Rcpt-To") + report.all("Removal-Recipient")
        if candidates.isEmpty {
            for original in DSNContext.returnedHeaders(in: message) {
                candidates += original.all("To")
            }
        }
        var recipients: [String] = []
        for c in candidates {
            for a in DSNPlainText.addresses(in: c) {
                if let r = Address.normalize(a), !recipients.contains(r) { recipients.append(r) }
            }
        }
        guard !recipients.isEmpty else {
            result.skipped["complaint without recipient", default: 0] += 1
            return
        }
        let delivery = try deliveryId(quotedIn: DSNPlainText.fullText(message))
        let occurredAt = try occurredAt([report["Arrival-Date"], report["Received-Date"]])
        let feedbackType = (report["Feedback-Type"] ?? "abuse").mimeTrimmed()
        for (n, recipient) in recipients.enumerated() {
            let event = Event(id: "\(idPrefix):\(n + 1)", kind: .complaint, delivery: delivery, recipient: recipient,
                              occurredAt: occurredAt, response: "Feedback-Type: \(feedbackType.prefix(64))", source: .dsn, raw: bytes)
            try append(event, raw: bytes, fields: ["recipient": "Original-Rcpt-To", "occurredAt": "Arrival-Date"])
        }
    }
}

/// What one recipient's report says (internal): kind and codes, before the event fields shared by all.
struct DSNOutcome {
    var kind: EventKind
    var final: Bool
    var inBand: Bool?
    var smtpCode: Int?
    var enhancedStatus: String?
    var response: String?
    var qualification: Qualification?
    var qualifier: String?

    /// `Action: failed` (or a plain-text failure): a final bounce, or a timeout when the status is
    /// X.4.7 / the text says the message expired. A temporary result is never hard.
    static func failure(diagnostic: String, status: EnhancedStatusCode?, qualifier: TextQualifier, expired: Bool,
                        smtpCommand: SMTPCommand? = nil, context: QualificationContext = .none) -> DSNOutcome {
        let r = qualifier.qualify(text: diagnostic, enhancedStatus: status?.description, replyCode: nil, smtpCommand: smtpCommand, context: context)
        let used = r.enhancedStatus.flatMap { EnhancedStatusCode($0) } ?? status
        let isTimeout = expired || (status.map { $0.subject == 4 && $0.detail == 7 } ?? false)
            || (used.map { $0.subject == 4 && $0.detail == 7 } ?? false) || DSNPlainText.saysExpired(diagnostic)
        var outcome = DSNOutcome(kind: .bounce, final: true, inBand: false, smtpCode: r.replyCode,
                                 enhancedStatus: r.enhancedStatus ?? status?.description,
                                 response: diagnostic.isEmpty ? nil : diagnostic,
                                 qualification: r.qualification, qualifier: r.qualifierTag)
        let temporary = (used?.isTemporary ?? false) || (r.replyCode.map { (400..<500).contains($0) } ?? false) || !r.final
        if temporary { outcome.qualification = r.qualification.temporary }
        if isTimeout {
            // The timeout carries the last error's reason (domain.md §4): the diagnostic's own codes
            // and text, without the X.4.7 that only says "gave up"; Unreachable when not defined.
            outcome.kind = .timeout
            outcome.inBand = nil
            let last = qualifier.qualify(text: diagnostic, enhancedStatus: nil, replyCode: nil, smtpCommand: smtpCommand, context: context)
            let lastCode = last.enhancedStatus.flatMap { EnhancedStatusCode($0) }
            if last.qualification.reason == .notDefined || (lastCode.map { $0.subject == 4 && $0.detail == 7 } ?? false) || last.rule.hasPrefix("unmatched") {
                outcome.qualification = r.qualification.reason == .notDefined ? Qualification(.soft, .unreachable) : r.qualification.temporary
                outcome.qualifier = r.qualifierTag
            } else {
                outcome.qualification = last.qualification.temporary
                outcome.qualifier = last.qualifierTag
            }
            if outcome.qualification?.type == .notDefined || outcome.qualification?.type == .ignored {
                outcome.qualification = Qualification(.soft, outcome.qualification?.reason ?? .unreachable)
            }
        }
        return outcome
    }

    /// `Action: delayed`: a retry, never hard, never final.
    static func retry(diagnostic: String, status: EnhancedStatusCode?, qualifier: TextQualifier,
                      smtpCommand: SMTPCommand? = nil, context: QualificationContext = .none) -> DSNOutcome {
        let r = qualifier.qualify(text: diagnostic, enhancedStatus: status?.description, replyCode: nil, smtpCommand: smtpCommand, context: context)
        var q = r.qualification.temporary
        if q.type == .notDefined { q = Qualification(.soft, q.reason == .notDefined ? .unreachable : q.reason) }
        return DSNOutcome(kind: .retry, final: false, inBand: nil, smtpCode: r.replyCode,
                          enhancedStatus: r.enhancedStatus ?? status?.description,
                          response: diagnostic.isEmpty ? nil : diagnostic, qualification: q, qualifier: r.qualifierTag)
    }

    /// `Action: delivered` / `relayed`.
    static func delivered(diagnostic: String, status: EnhancedStatusCode?) -> DSNOutcome {
        let reply = TextQualifier.replyCode(in: diagnostic).flatMap { (200..<300).contains($0) ? $0 : nil }
        return DSNOutcome(kind: .delivered, final: true, inBand: nil, smtpCode: reply, enhancedStatus: status?.description,
                          response: diagnostic.isEmpty ? nil : diagnostic)
    }

    func event(id: String, delivery: String, recipient: String, occurredAt: Instant, raw: [UInt8]) -> Event {
        Event(id: id, kind: kind, delivery: delivery, recipient: recipient, occurredAt: occurredAt, final: final,
              inBand: inBand, smtpCode: smtpCode, enhancedStatus: enhancedStatus, response: response,
              qualification: qualification, qualifier: qualifier, source: .dsn, raw: raw)
    }
}
