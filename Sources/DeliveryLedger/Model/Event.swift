#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
/// The kind of a ledger event (domain.md §2). Raw values are the public tokens of `Schemas/`.
public enum EventKind: String, Sendable, Hashable, Codable, CaseIterable {
    /// The platform declares or amends a delivery: validity period, to-deliver count, label.
    case delivery
    /// The platform handed the message to the MTA (SparkPost `injection`).
    case relay
    /// The receiving server accepted the message (SparkPost `delivery`, DSN `delivered`, Postfix `sent`).
    case delivered
    /// A failure report; `final` says whether the MTA gave up, `inBand` whether it came during SMTP.
    case bounce
    /// A temporary failure; the MTA keeps trying (SparkPost `delay`, DSN `delayed`, Postfix `deferred`).
    case retry
    /// The validity period ran out; always final (SparkPost `554 5.4.7 … message timeout`, Postfix `expired`).
    case timeout
    /// A spam complaint (feedback loop, ARF). Never changes message status.
    case complaint
    /// The recipient unsubscribed. Never changes message status.
    case unsubscribe
    /// An out-of-office or challenge-response reply. Never changes message status.
    case autoReply
    /// The operator turned the Email Feedback Service on or off (instance-wide setting history).
    case efsFlag

    /// Whether events of this kind belong to one message (delivery + recipient).
    public var isMessageEvent: Bool {
        switch self {
        case .delivery, .efsFlag: false
        default: true
        }
    }

    /// Whether this kind can be an outcome that decides a message's status.
    public var isOutcome: Bool {
        switch self {
        case .delivered, .bounce, .retry, .timeout: true
        default: false
        }
    }
}

/// Where an event came from (kept for audit).
public enum SourceFormat: String, Sendable, Hashable, Codable, CaseIterable {
    /// Canonical JSON Lines (`Schemas/canonical-event.schema.json`).
    case jsonl
    /// SparkPost / Momentum webhook batch or Events-API results.
    case sparkpost
    /// Postfix mail log.
    case postfix
    /// RFC 3464 delivery status notification.
    case dsn
    /// Appended by the ledger itself (e.g. the expiry sweep).
    case ledger
    /// Appended through the Swift API without a named source.
    case api
    /// Amazon SES notification or event-publishing record (possibly in an SNS envelope).
    case ses
    /// SendGrid Event Webhook.
    case sendgrid
    /// Mailgun webhook (JSON `event-data`, or the legacy form-encoded fields).
    case mailgun
    /// Postmark webhook.
    case postmark
    /// Brevo (formerly Sendinblue) transactional webhook.
    case brevo
    /// Mailjet Event API webhook.
    case mailjet
    /// Postal webhook.
    case postal

    /// Whether the source is an email service provider's webhook (which provider reported an event
    /// is shown by `status` and `history`).
    public var isProvider: Bool {
        switch self {
        case .ses, .sendgrid, .mailgun, .postmark, .brevo, .mailjet, .postal: true
        default: false
        }
    }
}

/// One immutable delivery-feedback event, as appended to the ledger (domain.md §2).
///
/// An event belongs to a *stream*: message events to their message (``delivery`` + ``recipient``),
/// `delivery` events to their delivery (``recipient`` is empty), `efsFlag` events to the instance
/// (both empty). Its ``id`` is the idempotency key **within its stream**: appending an event whose
/// id its stream already holds is a no-op when the content is the same and a conflict otherwise.
///
/// All instants are UTC (``Instant``). ``occurredAt`` is valid time (when the MTA says it
/// happened); the transaction time `recordedAt` is set by the ledger at append
/// (see ``RecordedEvent``).
public struct Event: Sendable, Hashable {
    /// Idempotency key, unique within the event's stream; 1…255 UTF-8 bytes.
    public var id: String
    /// What happened (domain.md §2).
    public var kind: EventKind
    /// Delivery id; empty only for `efsFlag`. At most 255 UTF-8 bytes.
    public var delivery: String
    /// Recipient address, normalised by ``Address/normalize(_:)``; empty for `delivery` and `efsFlag`.
    public var recipient: String
    /// Valid time: when it happened according to the source (UTC).
    public var occurredAt: Instant
    /// Whether the event is a final outcome (domain.md §3): for `bounce`, whether the MTA gave up
    /// (true) or will retry (false); `delivered` and `timeout` are always final, `retry` never.
    /// Other kinds are not outcomes: the field is `true` for them and the fold never reads it (the
    /// canonical input refuses `final` on a `relay`, `complaint`, `unsubscribe` or `autoReply`).
    public var final: Bool
    /// For `bounce`: true when refused during the SMTP session (synchronous), false for an
    /// asynchronous bounce message received later; `nil` when unknown.
    public var inBand: Bool?
    /// For `bounce`: the message failed before reaching the MTA (SparkPost `policy_rejection`,
    /// `generation_failure`, `generation_rejection`); counted as failed but not as a bounce.
    public var beforeRelay: Bool
    /// The MTA's bounce class (SparkPost/Momentum `bounce_class`, 1…100), if reported.
    public var bounceClass: Int?
    /// The SMTP basic reply code (RFC 5321 §4.2), e.g. 550.
    public var smtpCode: Int?
    /// The enhanced status code (RFC 3463), e.g. `5.1.1`.
    public var enhancedStatus: String?
    /// The remote server's response text, raw.
    public var response: String?
    /// Failure type and reason, for failures (`bounce`, `retry`, `timeout`).
    public var qualification: Qualification?
    /// Which qualifier produced ``qualification`` (e.g. `bounce-class-v1`, `source`).
    public var qualifier: String?
    /// Attempt number (SparkPost `num_retries`: failed attempts before this event).
    public var attempt: Int?
    /// For `delivery`: the validity period in seconds as configured on the platform.
    public var validitySeconds: Int64?
    /// For `delivery`: the to-deliver count (recipients targeted after exclusions).
    public var toDeliver: Int64?
    /// For `delivery`: a human label.
    public var label: String?
    /// For `efsFlag`: whether the Email Feedback Service is on from ``occurredAt``.
    public var enabled: Bool?
    /// Which reader produced the event.
    public var source: SourceFormat
    /// The raw source bytes (a JSON line, a webhook element, a log line), kept for audit.
    public var raw: [UInt8]

    /// Creates an event. `final` is forced to true for `timeout` and false for `retry`.
    /// Check it with ``validate()`` (``Ledger/append(_:)`` does).
    public init(
        id: String, kind: EventKind, delivery: String, recipient: String = "", occurredAt: Instant,
        final: Bool = true, inBand: Bool? = nil, beforeRelay: Bool = false, bounceClass: Int? = nil,
        smtpCode: Int? = nil, enhancedStatus: String? = nil, response: String? = nil,
        qualification: Qualification? = nil, qualifier: String? = nil, attempt: Int? = nil,
        validitySeconds: Int64? = nil, toDeliver: Int64? = nil, label: String? = nil,
        enabled: Bool? = nil, source: SourceFormat = .api, raw: [UInt8] = []
    ) {
        self.id = id
        self.kind = kind
        self.delivery = delivery
        self.recipient = recipient
        self.occurredAt = occurredAt
        self.final = kind == .timeout ? true : (kind == .retry ? false : final)
        self.inBand = inBand
        self.beforeRelay = beforeRelay
        self.bounceClass = bounceClass
        self.smtpCode = smtpCode
        self.enhancedStatus = enhancedStatus
        self.response = response
        self.qualification = qualification
        self.qualifier = qualifier
        self.attempt = attempt
        self.validitySeconds = validitySeconds
        self.toDeliver = toDeliver
        self.label = label
        self.enabled = enabled
        self.source = source
        self.raw = raw
    }

    /// Whether two events say the same thing: every field but ``raw`` (which may differ in
    /// white space between two copies of one webhook element) and ``source``.
    public func hasSameContent(as other: Event) -> Bool {
        var a = self, b = other
        a.raw = []; b.raw = []
        a.source = .api; b.source = .api
        return a == b
    }

    /// The stream this event belongs to (see ``Event``).
    public var streamKey: StreamKey {
        switch kind {
        case .efsFlag: StreamKey(delivery: "", recipient: "")
        case .delivery: StreamKey(delivery: delivery, recipient: "")
        default: StreamKey(delivery: delivery, recipient: recipient)
        }
    }
}

/// Identifies an event stream: a message (delivery + recipient), a delivery (recipient empty),
/// or the instance (both empty).
///
/// Keys compare by their UTF-8 bytes, as LMDB does, not by Swift's canonical equivalence: `é`
/// (U+00E9) and `e` + U+0301 are two different recipients, whatever order events arrive in.
public struct StreamKey: Sendable, Hashable, Comparable {
    /// The delivery id; empty for the instance stream.
    public var delivery: String
    /// The normalised recipient address; empty for delivery and instance streams.
    public var recipient: String
    /// Creates a stream key.
    public init(delivery: String, recipient: String) {
        self.delivery = delivery
        self.recipient = recipient
    }
    /// Byte order of the delivery, then of the recipient.
    public static func < (l: StreamKey, r: StreamKey) -> Bool {
        if !l.delivery.utf8.elementsEqual(r.delivery.utf8) { return l.delivery.utf8.lexicographicallyPrecedes(r.delivery.utf8) }
        return l.recipient.utf8.lexicographicallyPrecedes(r.recipient.utf8)
    }

    /// Byte equality of both parts.
    public static func == (l: StreamKey, r: StreamKey) -> Bool {
        sameBytes(l.recipient, r.recipient) && sameBytes(l.delivery, r.delivery)
    }

    /// Hashes the UTF-8 bytes (consistent with ``==``), in bulk.
    public func hash(into hasher: inout Hasher) {
        StreamKey.hashBytes(delivery, into: &hasher)
        hasher.combine(0xFF as UInt8)  // never a UTF-8 byte: separates the two parts
        StreamKey.hashBytes(recipient, into: &hasher)
    }

    private static func hashBytes(_ s: String, into hasher: inout Hasher) {
        if let done: Void = s.utf8.withContiguousStorageIfAvailable({ hasher.combine(bytes: UnsafeRawBufferPointer($0)) }) { return done }
        for b in s.utf8 { hasher.combine(b) }
    }

    private static func sameBytes(_ a: String, _ b: String) -> Bool {
        let fast = a.utf8.withContiguousStorageIfAvailable { x in
            b.utf8.withContiguousStorageIfAvailable { y in x.count == y.count && (x.count == 0 || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0) }
        }
        if let f = fast, let result = f { return result }
        return a.utf8.elementsEqual(b.utf8)
    }
}

/// An event as stored: its gap-free global position and its transaction time.
public struct RecordedEvent: Sendable, Hashable {
    /// Gap-free global sequence number, from 1, assigned at append.
    public var position: UInt64
    /// Transaction time (UTC): when the ledger appended it. Non-decreasing with ``position``.
    public var recordedAt: Instant
    /// The event as appended (delivery and recipient resolved from its stream).
    public var event: Event

    /// Creates a recorded event.
    public init(position: UInt64, recordedAt: Instant, event: Event) {
        self.position = position
        self.recordedAt = recordedAt
        self.event = event
    }
}
