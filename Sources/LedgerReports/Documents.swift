import DeliveryLedger
import Foundation

// The JSON documents the command line prints and the service answers (`Schemas/*.schema.json`):
// one definition for both, so that `GET /api/deliveries` is `ledger project --format json`.

/// Encodes report documents as the CLI prints them: keys sorted, slashes unescaped.
public enum ReportJSON {
    /// The JSON text of `value`, pretty-printed or on one line.
    public static func encode(_ value: some Encodable, pretty: Bool) throws -> String {
        String(decoding: try data(value, pretty: pretty), as: UTF8.self)
    }

    /// The JSON bytes of `value`.
    public static func data(_ value: some Encodable, pretty: Bool) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }
}

/// An optional that JSON output writes as `null` when absent: the synthesized `Encodable` would drop
/// the key, while the public formats (`Schemas/`) list every key.
@propertyWrapper
public struct Null<Value: Encodable & Sendable>: Encodable, Sendable {
    /// The value, or `nil` for `null`.
    public var wrappedValue: Value?

    /// Wraps a value.
    public init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }

    /// Writes the value or `null`.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        if let v = wrappedValue { try c.encode(v) } else { try c.encodeNil() }
    }
}

/// The JSON shape of `ledger project --format json` (`Schemas/project.schema.json`).
public struct ProjectJSON: Encodable, Sendable {
    /// What the answer is based on (log position, bounds, rule table).
    public struct BasisJSON: Encodable, Sendable {
        public var position: UInt64
        @Null public var recordedAt: String?
        public var rules: String
        @Null public var asOf: String?
        @Null public var knownAt: String?

        public init(_ b: Basis) {
            position = b.position
            recordedAt = b.recordedAt?.rfc3339
            rules = b.rules
            asOf = b.asOf?.rfc3339
            knownAt = b.knownAt?.rfc3339
        }
    }
    /// One delivery's KPIs under one semantics.
    public struct KPIsJSON: Encodable, Sendable {
        public var delivery: String
        /// The delivery's label from its latest declaration at the bounds, or `null`.
        @Null public var label: String?
        public var semantics: String
        public var toDeliver: Int64
        public var success: Int64
        public var successRate: Double
        public var sent: Int64
        public var failed: Int64
        public var pending: Int64
        public var takenIntoAccount: Int64
        public var retrying: Int64
        public var processed: Int64
        public var relayed: Int64
        public var delivered: Int64
        public var bounced: Int64
        public var failedBeforeRelay: Int64
        @Null public var bounceRate: Double?
        public var hardBounced: Int64
        @Null public var hardBounceRate: Double?
        @Null public var deliveredRate: Double?
        public var failedByType: [String: Int64]
        public var failedByReason: [String: Int64]

        public init(_ k: DeliveryKPIs, label: String? = nil) {
            delivery = k.delivery
            self.label = label
            semantics = k.semantics.rawValue
            toDeliver = k.toDeliver
            success = k.success
            successRate = k.successRate
            sent = k.sent
            failed = k.failed
            pending = k.pending
            takenIntoAccount = k.takenIntoAccount
            retrying = k.retrying
            processed = k.processed
            relayed = k.relayed
            delivered = k.delivered
            bounced = k.bounced
            failedBeforeRelay = k.failedBeforeRelay
            bounceRate = k.bounceRate
            hardBounced = k.hardBounced
            hardBounceRate = k.hardBounceRate
            deliveredRate = k.deliveredRate
            failedByType = Dictionary(uniqueKeysWithValues: k.failedByType.map { ($0.key.rawValue, $0.value) })
            failedByReason = Dictionary(uniqueKeysWithValues: k.failedByReason.map { ($0.key.rawValue, $0.value) })
        }
    }
    /// The basis.
    public var basis: BasisJSON
    /// One entry per delivery and semantics.
    public var deliveries: [KPIsJSON]

    /// The document.
    public init(basis: BasisJSON, deliveries: [KPIsJSON]) {
        self.basis = basis
        self.deliveries = deliveries
    }
}

/// The JSON shape of one `ledger status --format json` line (`Schemas/status.schema.json`).
public struct StatusJSON: Encodable, Sendable {
    /// A status under one semantics.
    public struct ViewJSON: Encodable, Sendable {
        public var status: String
        @Null public var failureType: String?
        @Null public var failureReason: String?
        public var retrying: Bool
        @Null public var decidedBy: UInt64?

        public init(_ v: MessageStatusView) {
            status = v.status.rawValue
            failureType = v.failureType?.rawValue
            failureReason = v.failureReason?.rawValue
            retrying = v.retrying
            decidedBy = v.decidedBy
        }
    }
    /// One recorded event.
    public struct EventJSON: Encodable, Sendable {
        public var position: UInt64
        public var recordedAt: String
        public var occurredAt: String
        public var id: String
        public var kind: String
        public var final: Bool
        @Null public var bounceClass: Int?
        @Null public var smtpCode: Int?
        @Null public var enhancedStatus: String?
        @Null public var response: String?
        @Null public var failureType: String?
        @Null public var failureReason: String?
        /// What decided the qualification: `<table version>#<rule id>` (text rules), the bounce-class
        /// table's version, or `source` (given by the input); `nil` without a qualification.
        @Null public var qualifier: String?
        public var source: String
        /// The event's raw source bytes exactly as they were read (the JSON element, log line or
        /// email), when asked for (`ledger history --raw`): as text when they are valid UTF-8, else
        /// ``rawBase64`` (RFC 4648 base64). Absent otherwise, and absent when the event has none.
        public var raw: String?
        /// The raw source bytes in base64, when they are not valid UTF-8.
        public var rawBase64: String?

        /// The event; its raw source bytes too when `includeRaw`.
        public init(_ r: RecordedEvent, includeRaw: Bool) {
            self.init(r)
            guard includeRaw, !r.event.raw.isEmpty else { return }
            if let text = String(validating: r.event.raw, as: UTF8.self) { raw = text } else { rawBase64 = Data(r.event.raw).base64EncodedString() }
        }

        public init(_ r: RecordedEvent) {
            position = r.position
            recordedAt = r.recordedAt.rfc3339
            occurredAt = r.event.occurredAt.rfc3339
            id = r.event.id
            kind = r.event.kind.rawValue
            final = r.event.final
            bounceClass = r.event.bounceClass
            smtpCode = r.event.smtpCode
            enhancedStatus = r.event.enhancedStatus
            response = r.event.response
            failureType = r.event.qualification?.type.rawValue
            failureReason = r.event.qualification?.reason.rawValue
            qualifier = r.event.qualification == nil ? nil : r.event.qualifier
            source = r.event.source.rawValue
        }
    }
    public var delivery: String
    public var recipient: String
    public var classic: ViewJSON
    public var efs: ViewJSON
    /// The message's events in projection order — valid time, then log position — as the table
    /// of `ledger status` lists them.
    public var events: [EventJSON]
    public var basis: ProjectJSON.BasisJSON

    public init(_ r: MessageStatusReport) {
        delivery = r.delivery
        recipient = r.recipient
        classic = ViewJSON(r.classic)
        efs = ViewJSON(r.efs)
        events = r.events.sorted { ($0.event.occurredAt, $0.position) < ($1.event.occurredAt, $1.position) }.map(EventJSON.init)
        basis = ProjectJSON.BasisJSON(r.basis)
    }
}

