// Readers of MTA feedback: the public types of `LedgerIngest`.

import DeliveryLedger
import Foundation

/// The input formats ``FeedReader`` reads (domain.md §8).
///
/// Raw values are the tokens of the command line's `--format` option.
public enum InputFormat: String, Sendable, CaseIterable {
    /// Tell the format from the first bytes (see ``FeedReader/read(_:file:options:)``):
    /// `[` → ``sparkpost``; `{` → ``jsonl`` when the first object has a `kind` key, else ``sparkpost``.
    case auto
    /// Canonical JSON Lines: one canonical event object per line (``SourceFormat/jsonl``).
    case jsonl
    /// SparkPost / Momentum webhook batch, Events-API `{"results": […]}` document, or a single
    /// `{"msys": {…}}` element (``SourceFormat/sparkpost``; reference/mta.md §1).
    case sparkpost
    /// One bounce message (RFC 3464 DSN, plain-text bounce, auto-reply, ARF report), read by
    /// ``DSNReader`` (``SourceFormat/dsn``). Auto-detected when the input starts with a mail header.
    case dsn
    /// A Postfix mail log, read by ``PostfixLogReader`` (``SourceFormat/postfix``). Never
    /// auto-detected: it needs ``IngestOptions/delivery``.
    case postfix
    /// Amazon SES notifications and event-publishing records, bare or in their SNS envelope
    /// (``SourceFormat/ses``; README "Input: Amazon SES").
    case ses
    /// SendGrid Event Webhook batches (``SourceFormat/sendgrid``).
    case sendgrid
    /// Mailgun webhooks: JSON `{"signature", "event-data"}` or the legacy form-encoded fields
    /// (``SourceFormat/mailgun``).
    case mailgun
    /// Postmark webhooks (``SourceFormat/postmark``).
    case postmark
    /// Brevo transactional webhooks (``SourceFormat/brevo``).
    case brevo
    /// Mailjet Event API webhooks, grouped (an array) or one event (``SourceFormat/mailjet``).
    case mailjet
    /// Postal webhooks (``SourceFormat/postal``).
    case postal

    /// The email service provider formats (read by the readers in `Providers/`).
    public static let providers: [InputFormat] = [.ses, .sendgrid, .mailgun, .postmark, .brevo, .mailjet, .postal]

    /// Whether this is an email service provider's webhook format.
    public var isProvider: Bool { InputFormat.providers.contains(self) }
}

/// Options of one read.
public struct IngestOptions: Sendable {
    /// The format to read; ``InputFormat/auto`` detects it.
    public var format: InputFormat = .auto
    /// SparkPost and providers: where to take the delivery id from instead of the format's default.
    /// SparkPost (default `campaign_id`, else `transmission_id`): a dotted path from the event object
    /// (`rcpt_meta.delivery_id`), or a bare name looked up at the event's top level first, then in
    /// `rcpt_meta`. Providers: a dotted path into the event (for SES a bare name is a mail tag; for
    /// Mailgun the path starts in `event-data`); an array gives its first element; a record without
    /// it is an error (README "Input: email service providers"). Ignored for JSON Lines, whose
    /// `delivery` field is the delivery id.
    public var deliveryKey: String? = nil
    /// When `true`, a bad record does not stop the read: it is returned in
    /// ``ParsedInput/rejected`` with its untouched bytes, and the good records are returned as events
    /// (domain.md §8: "unless the user asks to skip bad records into a reject file").
    public var skipInvalid: Bool = false

    /// Creates read options.
    ///
    /// - Parameters:
    ///   - format: the input format, ``InputFormat/auto`` by default.
    ///   - deliveryKey: SparkPost delivery id override (see ``deliveryKey``), `nil` by default.
    ///   - skipInvalid: collect bad records instead of failing (see ``skipInvalid``), `false` by default.
    public init(format: InputFormat = .auto, deliveryKey: String? = nil, skipInvalid: Bool = false) {
        self.format = format
        self.deliveryKey = deliveryKey
        self.skipInvalid = skipInvalid
    }

    /// DSN and providers: the fallback delivery id when the record names none; Postfix: the delivery
    /// of every event (required).
    public var delivery: String? = nil
    /// DSN only: the header of the returned message that carries the delivery id.
    public var deliveryHeader: String = "X-Delivery-ID"
    /// Postfix only: the year of the first year-less syslog stamp (`nil`: inferred from ``reference``).
    public var year: Int? = nil
    /// Postfix only: the offset east of UTC, in seconds, of the local time year-less syslog stamps are
    /// written in (default 0: UTC).
    public var timeZoneOffsetSeconds: Int = 0
    /// Postfix only: the named zone (IANA, e.g. `Europe/Paris`) of year-less syslog stamps, whose
    /// offset follows daylight saving; wins over ``timeZoneOffsetSeconds``.
    public var timeZone: TimeZone? = nil
    /// Postfix only: the ingest time, to infer years so that no event is in the future.
    public var reference: Instant = Ledger.systemClock()
    /// DSN and Postfix: the text qualifier for failure texts (domain.md §5.3).
    public var qualifier: TextQualifier = .builtIn
}

/// A bad input record, located: file, 1-based line (JSON Lines) or 0-based element index
/// (SparkPost arrays), and the field at fault (domain.md §8: "each bad record is reported with
/// file, line/element index and field").
///
/// ``description`` reads like
/// `events.json: element 3: field 'timestamp': not an epoch number or RFC 3339 instant: "2016-13-40"`.
/// Field names are the source format's own (`timestamp`, `rcpt_to`, `bounce_class` for SparkPost;
/// `occurredAt`, `recipient`, `bounceClass` for JSON Lines). Messages are for people and never parsed.
public struct IngestError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file name as given to ``FeedReader/read(_:file:options:)``.
    public var file: String
    /// The 1-based line number, for JSON Lines; `nil` otherwise.
    public var line: Int?
    /// The 0-based index of the element in the top-level array (webhook batch) or in `results`
    /// (Events API), for SparkPost; `nil` otherwise. A single `{"msys": …}` object is element 0.
    public var element: Int?
    /// The field at fault, in the source format's naming; `nil` when the record as a whole is bad
    /// (malformed JSON, too long).
    public var field: String?
    /// The 0-based byte offset, from the input's first byte, where the fault was seen: set for JSON
    /// that is not RFC 8259 JSON (the offending byte; the end of the input when it is cut short) and
    /// for a broken document structure; `nil` for errors about a field's value.
    public var offset: Int?
    /// What is wrong, for people.
    public var message: String

    /// Creates an ingest error.
    ///
    /// - Parameters:
    ///   - file: the input's name.
    ///   - line: the 1-based line (JSON Lines) or `nil`.
    ///   - element: the 0-based element index (SparkPost) or `nil`.
    ///   - field: the field at fault or `nil`.
    ///   - offset: the byte offset of the fault in the input, or `nil`.
    ///   - message: what is wrong.
    public init(file: String, line: Int? = nil, element: Int? = nil, field: String? = nil, offset: Int? = nil, message: String) {
        self.file = file
        self.line = line
        self.element = element
        self.field = field
        self.offset = offset
        self.message = message
    }

    /// `file: line N: byte B: field 'f': message`, leaving out the parts that are `nil`.
    public var description: String {
        var s = file
        if let line { s += ": line \(line)" }
        if let element { s += ": element \(element)" }
        if let offset { s += ": byte \(offset)" }
        if let field { s += ": field '\(field)'" }
        return s + ": " + message
    }
}

/// A record that could not be read (only with ``IngestOptions/skipInvalid``).
public struct RejectedRecord: Sendable, Hashable {
    /// Where and why.
    public var error: IngestError
    /// The record's bytes, untouched: the line without its `\n` / `\r\n` terminator (JSON Lines), or
    /// the element from its first to its last byte (SparkPost). When the document structure itself is
    /// broken (an element cut short, a missing `]`), the bytes from where the reader lost track to the
    /// end of the input, and the read stops there.
    public var raw: [UInt8]

    /// Creates a rejected record.
    public init(error: IngestError, raw: [UInt8]) {
        self.error = error
        self.raw = raw
    }

    /// The rest of a document whose structure broke (`error`), from where the reader lost track, as
    /// one rejected record — when it is all of the input's rest (`inputEnds`) and fits one record
    /// (``FeedStream/maximumRecordLength``, 1 MiB). Otherwise the rest cannot be kept whole: the error
    /// is thrown, saying so, and nothing is appended. (Before, only the first 1 MiB was kept and the
    /// read ended with success: two concatenated webhook batches lost the second one without a word.)
    static func restOfBrokenDocument(_ rest: ArraySlice<UInt8>, error: IngestError, inputEnds: Bool) throws(IngestError) -> RejectedRecord {
        guard inputEnds, rest.count <= FeedStream.maximumRecordLength else {
            var fatal = error
            fatal.message += "; the input goes on for more than 1 MiB after this point, too much to keep as one rejected record with --skip-invalid: nothing is appended (fix or split the file)"
            throw fatal
        }
        return RejectedRecord(error: error, raw: Array(rest))
    }
}

/// What a read produced.
public struct ParsedInput: Sendable {
    /// The format actually read: ``InputFormat/jsonl`` or ``InputFormat/sparkpost``, never
    /// ``InputFormat/auto`` (empty input with ``InputFormat/auto`` reports ``InputFormat/jsonl``).
    public var format: InputFormat
    /// The events, in input order. Each has been checked with `Event.validate()`.
    public var events: [Event]
    /// Records of types the ledger does not track, counted by type name, e.g.
    /// `["open": 3, "click": 1, "ping": 1]` (domain.md §2: "counted and skipped with a summary, never an
    /// error"). `ping` counts empty `{"msys": {}}` elements; `subscribe` counts bounce class 80.
    public var skipped: [String: Int]
    /// Email service providers' formats: of the elements counted in ``skipped``, those that are no
    /// complete event of the provider — a type it does not document, or a documented type without
    /// the recipient or time its events carry — by skipped reason (e.g. `["sendgrid hard_bounce": 2,
    /// "sendgrid delivered without timestamp": 5]` for Brevo's events read as SendGrid's: the two
    /// share type names, not fields). An input all of whose elements are such is another provider's.
    public var skippedIncomplete: [String: Int] = [:]
    /// Bad records; non-empty only with ``IngestOptions/skipInvalid``.
    public var rejected: [RejectedRecord]
    /// Where each event came from, parallel to ``events``: `line N` (1-based) or `element N`
    /// (0-based), for messages about an event (e.g. an id conflict found at append).
    public var locations: [String] = []

    /// Creates a parsed input.
    public init(format: InputFormat, events: [Event] = [], skipped: [String: Int] = [:], rejected: [RejectedRecord] = []) {
        self.format = format
        self.events = events
        self.skipped = skipped
        self.rejected = rejected
    }
}

extension RejectedRecord {
    /// ``raw`` as one line, for a reject file that holds one record a line (JSON Lines, provider
    /// elements): a provider's element cut from a pretty-printed array spans several lines, which
    /// would break such a file.
    ///
    /// JSON (the first byte that is not white space is `{` or `[`): white space outside strings
    /// (RFC 8259 §2: space, tab, LF, CR) is removed next to a structural character or a string, and
    /// any other run becomes one space (so that tokens stay apart: an invalid `1 2` stays invalid,
    /// never `12`); strings are kept byte for byte, except a raw control character inside one (not
    /// JSON, RFC 8259 §7) written as its `\u00XX` escape. A valid element's line is its compact
    /// JSON, of the same value. Anything else (a form-encoded body): CR and LF written `%0D` and
    /// `%0A` (RFC 3986 percent-encoding), surrounding white space dropped.
    public var singleLine: [UInt8] {
        var start = 0
        while start < raw.count, JSONSyntax.isWhitespace(raw[start]) { start += 1 }
        guard start < raw.count else { return [] }
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        guard raw[start] == UInt8(ascii: "{") || raw[start] == UInt8(ascii: "[") else {
            var end = raw.count
            while end > start, JSONSyntax.isWhitespace(raw[end - 1]) { end -= 1 }
            for b in raw[start..<end] {
                switch b {
                case 0x0D: out += Array("%0D".utf8)
                case 0x0A: out += Array("%0A".utf8)
                default: out.append(b)
                }
            }
            return out
        }
        func isStructural(_ b: UInt8?) -> Bool {
            guard let b else { return true }
            return b == UInt8(ascii: "{") || b == UInt8(ascii: "}") || b == UInt8(ascii: "[") || b == UInt8(ascii: "]")
                || b == UInt8(ascii: ",") || b == UInt8(ascii: ":") || b == UInt8(ascii: "\"")
        }
        let hex = Array("0123456789abcdef".utf8)
        var inString = false, escaped = false, pendingSpace = false
        for b in raw[start...] {
            if inString {
                if escaped {
                    escaped = false
                } else if b == UInt8(ascii: "\\") {
                    escaped = true
                } else if b == UInt8(ascii: "\"") {
                    inString = false
                }
                if b < 0x20 {
                    out += Array("\\u00".utf8) + [hex[Int(b >> 4)], hex[Int(b & 0x0F)]]
                } else {
                    out.append(b)
                }
                continue
            }
            if JSONSyntax.isWhitespace(b) { pendingSpace = true; continue }
            if pendingSpace && !isStructural(out.last) && !isStructural(b) { out.append(0x20) }
            pendingSpace = false
            if b == UInt8(ascii: "\"") { inString = true }
            out.append(b)
        }
        return out
    }
}
