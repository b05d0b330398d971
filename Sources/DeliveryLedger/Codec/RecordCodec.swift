/// The binary encoding of one log record (format version 2; version 1, still read, kept its raw
/// bytes as a plain blob).
///
/// Layout, in order (varint = LEB128, zigzag = signed varint, str = varint length + UTF-8):
///
/// | field | encoding |
/// |---|---|
/// | format version | u8 = 1 |
/// | kind | u8 (``EventKind`` code, stable: delivery 1 … efsFlag 10) |
/// | flags | u8: bit0 final, bit1 inBand known, bit2 inBand, bit3 beforeRelay, bit4 enabled known, bit5 enabled, bit6 stream definition present |
/// | source | u8 (``SourceFormat`` code) |
/// | failure type | u8 (0 none, 1 hard, 2 soft, 3 ignored, 4 notDefined) |
/// | failure reason | u8 (Campaign code; 255 none) |
/// | stream ordinal | varint (dense id of the message/delivery/instance stream) |
/// | previous position in stream | varint (0 = first event of its stream) |
/// | recordedAt, occurredAt | zigzag ms since epoch |
/// | event id | str |
/// | stream definition | str delivery, str recipient — only on a stream's first event, so the log alone can rebuild every index |
/// | optional fields bitmap | varint: bounceClass, smtpCode, attempt, validitySeconds, toDeliver, enhancedStatus, response, label, qualifier |
/// | each present optional | varint / zigzag / str |
/// | raw source bytes | ``RawEncoding``: a code, then the bytes stored or zstd-compressed (version 1: varint length + bytes) |
///
/// What projections need comes first so a fold can stop decoding early.
enum RecordCodec {
    static let formatVersion: UInt8 = 2

    struct Header: Sendable, Hashable {
        var kind: EventKind
        var stream: UInt32
        var previous: UInt64
        var recordedAt: Instant
    }

    static func kindCode(_ k: EventKind) -> UInt8 {
        switch k {
        case .delivery: 1
        case .relay: 2
        case .delivered: 3
        case .bounce: 4
        case .retry: 5
        case .timeout: 6
        case .complaint: 7
        case .unsubscribe: 8
        case .autoReply: 9
        case .efsFlag: 10
        }
    }

    static func kind(code: UInt8) throws(CorruptRecordError) -> EventKind {
        switch code {
        case 1: .delivery
        case 2: .relay
        case 3: .delivered
        case 4: .bounce
        case 5: .retry
        case 6: .timeout
        case 7: .complaint
        case 8: .unsubscribe
        case 9: .autoReply
        case 10: .efsFlag
        default: throw CorruptRecordError(what: "unknown event kind code \(code)")
        }
    }

    static func sourceCode(_ s: SourceFormat) -> UInt8 {
        switch s {
        case .jsonl: 1
        case .sparkpost: 2
        case .postfix: 3
        case .dsn: 4
        case .ledger: 5
        case .api: 6
        case .ses: 7
        case .sendgrid: 8
        case .mailgun: 9
        case .postmark: 10
        case .brevo: 11
        case .mailjet: 12
        case .postal: 13
        }
    }

    static func source(code: UInt8) throws(CorruptRecordError) -> SourceFormat {
        switch code {
        case 1: .jsonl
        case 2: .sparkpost
        case 3: .postfix
        case 4: .dsn
        case 5: .ledger
        case 6: .api
        case 7: .ses
        case 8: .sendgrid
        case 9: .mailgun
        case 10: .postmark
        case 11: .brevo
        case 12: .mailjet
        case 13: .postal
        default: throw CorruptRecordError(what: "unknown source code \(code)")
        }
    }

    static func typeCode(_ t: FailureType?) -> UInt8 {
        switch t {
        case nil: 0
        case .hard: 1
        case .soft: 2
        case .ignored: 3
        case .notDefined: 4
        }
    }

    static func type(code: UInt8) throws(CorruptRecordError) -> FailureType? {
        switch code {
        case 0: nil
        case 1: .hard
        case 2: .soft
        case 3: .ignored
        case 4: .notDefined
        default: throw CorruptRecordError(what: "unknown failure type code \(code)")
        }
    }

    static func reason(code: UInt8) throws(CorruptRecordError) -> FailureReason? {
        if code == 255 { return nil }
        guard let r = FailureReason(code: Int(code)) else { throw CorruptRecordError(what: "unknown failure reason code \(code)") }
        return r
    }

    /// Appends to `w` the record of `event`, with its predecessor link `previous` in stream
    /// `stream`; `definesStream` puts the stream's delivery and recipient in the record (first event
    /// of a stream). An append reuses one buffer for all its records.
    static func encode(_ e: Event, stream: UInt32, previous: UInt64, recordedAt: Instant, definesStream: Bool,
                       raw: EncodedRaw? = nil, into w: inout ByteWriter) {
        w.u8(formatVersion)
        w.u8(kindCode(e.kind))
        var flags: UInt8 = 0
        if e.final { flags |= 1 }
        if let ib = e.inBand { flags |= 2; if ib { flags |= 4 } }
        if e.beforeRelay { flags |= 8 }
        if let en = e.enabled { flags |= 16; if en { flags |= 32 } }
        if definesStream { flags |= 64 }
        w.u8(flags)
        w.u8(sourceCode(e.source))
        w.u8(typeCode(e.qualification?.type))
        w.u8(e.qualification.map { UInt8($0.reason.code) } ?? 255)
        w.varint(UInt64(stream))
        w.varint(previous)
        w.zigzag(recordedAt.millisecondsSinceEpoch)
        w.zigzag(e.occurredAt.millisecondsSinceEpoch)
        w.string(e.id)
        if definesStream {
            w.string(e.delivery)
            w.string(e.recipient)
        }
        var present: UInt64 = 0
        if e.bounceClass != nil { present |= 1 }
        if e.smtpCode != nil { present |= 2 }
        if e.attempt != nil { present |= 4 }
        if e.validitySeconds != nil { present |= 8 }
        if e.toDeliver != nil { present |= 16 }
        if e.enhancedStatus != nil { present |= 32 }
        if e.response != nil { present |= 64 }
        if e.label != nil { present |= 128 }
        if e.qualifier != nil { present |= 256 }
        w.varint(present)
        if let v = e.bounceClass { w.varint(UInt64(v)) }
        if let v = e.smtpCode { w.varint(UInt64(v)) }
        if let v = e.attempt { w.varint(UInt64(v)) }
        if let v = e.validitySeconds { w.zigzag(v) }
        if let v = e.toDeliver { w.zigzag(v) }
        if let v = e.enhancedStatus { w.string(v) }
        if let v = e.response { w.string(v) }
        if let v = e.label { w.string(v) }
        if let v = e.qualifier { w.string(v) }
        let raw = raw ?? EncodedRaw(code: RawEncoding.stored, bytes: e.raw)
        w.u8(raw.code)
        if raw.code == RawEncoding.zstdDictionary || raw.code == RawEncoding.zstdNewDictionary { w.varint(UInt64(raw.dictionary)) }
        if raw.code == RawEncoding.zstdNewDictionary { w.bytes.append(contentsOf: raw.digest) }
        w.blob(raw.bytes)
    }


    /// The fixed part every record starts with, read by each decoder (``header(_:)``,
    /// ``decode(_:)``, ``foldView(_:)``).
    struct Fixed {
        var version: UInt8
        var kind: EventKind
        var flags: UInt8
        var sourceCode: UInt8
        var type: FailureType?
        var reason: FailureReason?
        var stream: UInt32
        var previous: UInt64
        var recordedAt: Instant
        var occurredAt: Instant

        init(_ r: inout ByteReader) throws(CorruptRecordError) {
            version = try r.u8()
            guard version == 1 || version == RecordCodec.formatVersion else { throw CorruptRecordError(what: "unknown record format version \(version)") }
            kind = try RecordCodec.kind(code: try r.u8())
            flags = try r.u8()
            sourceCode = try r.u8()
            type = try RecordCodec.type(code: try r.u8())
            reason = try RecordCodec.reason(code: try r.u8())
            let s = try r.varint()
            guard s <= UInt64(UInt32.max) else { throw CorruptRecordError(what: "stream ordinal out of range") }
            stream = UInt32(s)
            previous = try r.varint()
            recordedAt = Instant(millisecondsSinceEpoch: try r.zigzag())
            occurredAt = Instant(millisecondsSinceEpoch: try r.zigzag())
        }

        /// The stored qualification: both codes or neither.
        func qualification() throws(CorruptRecordError) -> Qualification? {
            switch (type, reason) {
            case let (t?, q?): Qualification(t, q)
            case (nil, nil): nil
            default: throw CorruptRecordError(what: "failure type without reason or reason without type")
            }
        }
    }

    /// Decodes only the fixed header (kind, stream, previous position, recordedAt).
    static func header(_ b: UnsafeRawBufferPointer) throws(CorruptRecordError) -> Header {
        var r = ByteReader(b)
        let f = try Fixed(&r)
        return Header(kind: f.kind, stream: f.stream, previous: f.previous, recordedAt: f.recordedAt)
    }

    /// Decodes the event id and the previous-position link only (for duplicate detection along a chain).
    static func idAndPrevious(_ b: UnsafeRawBufferPointer) throws(CorruptRecordError) -> (id: String, previous: UInt64) {
        var r = ByteReader(b)
        _ = try r.bytes(6)
        _ = try r.varint()
        let previous = try r.varint()
        _ = try r.zigzag()
        _ = try r.zigzag()
        return (try r.string(), previous)
    }

    /// A fully decoded record. `delivery`/`recipient` of ``event`` are filled from the stream
    /// definition when present, else left empty for the caller to resolve from ``header``'s stream.
    struct Decoded {
        var header: Header
        var event: Event
        var definesStream: Bool
        /// How the record keeps its raw bytes.
        var rawReference: RawReference
    }

    /// Decodes a whole record; its raw bytes as `raw` says (skipped, or decompressed).
    static func decode(_ b: UnsafeRawBufferPointer, raw rawDecoder: RawDecoder) throws(CorruptRecordError) -> Decoded {
        var r = ByteReader(b)
        let f = try Fixed(&r)
        let (kind, flags, stream, previous, recordedAt, occurredAt) = (f.kind, f.flags, f.stream, f.previous, f.recordedAt, f.occurredAt)
        let source = try source(code: f.sourceCode)
        let id = try r.string()
        let defines = flags & 64 != 0
        var delivery = "", recipient = ""
        if defines {
            delivery = try r.string()
            recipient = try r.string()
        }
        let present = try r.varint()
        func int(_ bit: UInt64) throws(CorruptRecordError) -> Int? {
            guard present & bit != 0 else { return nil }
            let v = try r.varint()
            guard v <= UInt64(Int32.max) else { throw CorruptRecordError(what: "integer field out of range") }
            return Int(v)
        }
        let bounceClass = try int(1)
        let smtpCode = try int(2)
        let attempt = try int(4)
        let validity: Int64? = present & 8 != 0 ? try r.zigzag() : nil
        let toDeliver: Int64? = present & 16 != 0 ? try r.zigzag() : nil
        let enhanced: String? = present & 32 != 0 ? try r.string() : nil
        let response: String? = present & 64 != 0 ? try r.string() : nil
        let label: String? = present & 128 != 0 ? try r.string() : nil
        let qualifier: String? = present & 256 != 0 ? try r.string() : nil
        let (raw, rawReference) = try rawDecoder.decode(&r, version: f.version)
        guard r.isAtEnd else { throw CorruptRecordError(what: "trailing bytes") }
        let qualification = try f.qualification()
        var event = Event(
            id: id, kind: kind, delivery: delivery, recipient: recipient, occurredAt: occurredAt,
            final: flags & 1 != 0, inBand: flags & 2 != 0 ? flags & 4 != 0 : nil, beforeRelay: flags & 8 != 0,
            bounceClass: bounceClass, smtpCode: smtpCode, enhancedStatus: enhanced, response: response,
            qualification: qualification, qualifier: qualifier, attempt: attempt, validitySeconds: validity,
            toDeliver: toDeliver, label: label, enabled: flags & 16 != 0 ? flags & 32 != 0 : nil,
            source: source, raw: raw)
        event.final = flags & 1 != 0
        return Decoded(
            header: Header(kind: kind, stream: stream, previous: previous, recordedAt: recordedAt),
            event: event, definesStream: defines, rawReference: rawReference)
    }
}

extension RecordCodec {
    /// What a fold needs of a record, decoded without allocating (no strings, no raw bytes):
    /// header fields, valid time, the qualification as stored, where the event id lies in the
    /// bytes, and whether the failure was qualified by the text rules (then the projection
    /// re-qualifies it from the full record, ``decode(_:)``).
    struct FoldView {
        var kind: EventKind
        var flags: UInt8
        var qualification: Qualification?
        var stream: UInt32
        var previous: UInt64
        var recordedAt: Instant
        var occurredAt: Instant
        /// Byte range of the event id's UTF-8 in the record.
        var id: Range<Int>
        /// Whether the qualifier is a text-rule tag (``TextQualification/isTextTag(_:)``).
        var textQualified: Bool

        var isFinal: Bool { flags & 1 != 0 }
        var beforeRelay: Bool { flags & 8 != 0 }
    }

    static func foldView(_ b: UnsafeRawBufferPointer) throws(CorruptRecordError) -> FoldView {
        var r = ByteReader(b)
        let f = try Fixed(&r)
        let idLength = try r.varint()
        guard idLength <= UInt64(b.count) else { throw CorruptRecordError(what: "string length \(idLength) too large") }
        let idStart = r.offset
        _ = try r.bytes(Int(idLength))
        let qualification = try f.qualification()
        let flags = f.flags
        var textQualified = false
        if qualification != nil {
            // Skip to the qualifier: stream definition, then the optional fields before it.
            if flags & 64 != 0 { try r.skipString(); try r.skipString() }
            let present = try r.varint()
            if present & 256 != 0 {
                if present & 1 != 0 { _ = try r.varint() }
                if present & 2 != 0 { _ = try r.varint() }
                if present & 4 != 0 { _ = try r.varint() }
                if present & 8 != 0 { _ = try r.zigzag() }
                if present & 16 != 0 { _ = try r.zigzag() }
                if present & 32 != 0 { try r.skipString() }
                if present & 64 != 0 { try r.skipString() }
                if present & 128 != 0 { try r.skipString() }
                let n = try r.varint()
                guard n <= UInt64(b.count) else { throw CorruptRecordError(what: "string length \(n) too large") }
                textQualified = try r.bytes(Int(n)).contains(UInt8(ascii: "#"))
            }
        }
        return FoldView(kind: f.kind, flags: flags, qualification: qualification, stream: f.stream, previous: f.previous,
                        recordedAt: f.recordedAt, occurredAt: f.occurredAt, id: idStart..<idStart + Int(idLength), textQualified: textQualified)
    }
}

extension ByteReader {
    /// Skips a length-prefixed string or blob.
    mutating func skipString() throws(CorruptRecordError) {
        let n = try varint()
        guard n <= UInt64(buffer.count) else { throw CorruptRecordError(what: "string length \(n) too large") }
        _ = try bytes(Int(n))
    }
}

extension Event {
    /// The event in the log's record format (``RecordCodec``: a record that defines its stream, so
    /// it carries the delivery and recipient; stream ordinal, predecessor and `recordedAt` zero), for
    /// holding events outside a ledger — e.g. `ledger ingest` keeps the checked events of a large
    /// input in a temporary file between its check and its append instead of reading the input twice.
    /// ``init(serializedRecord:)`` gives back an equal event.
    public func serializedRecord() -> [UInt8] {
        var w = ByteWriter(capacity: 96 + raw.count)
        RecordCodec.encode(self, stream: 0, previous: 0, recordedAt: Instant(millisecondsSinceEpoch: 0), definesStream: true, into: &w)
        return w.bytes
    }

    /// Reads an event written by ``serializedRecord()``.
    /// - Throws: ``CorruptRecordError`` when the bytes are not such a record.
    public init(serializedRecord bytes: UnsafeRawBufferPointer) throws(CorruptRecordError) {
        let decoded = try RecordCodec.decode(bytes, raw: .withoutDictionaries)
        guard decoded.definesStream else { throw CorruptRecordError(what: "not a serialized event (no delivery and recipient)") }
        self = decoded.event
    }
}
