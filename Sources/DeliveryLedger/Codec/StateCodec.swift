/// Binary encoding of a persisted ``MessageState`` (projection layout ``layoutVersion``), kept small:
/// the projection stores one per message.
///
/// A presence byte: bit0 relay, bit1 impliedRelay, bit2 final, bit3 soft; bit4: impliedRelay is the
/// same event as final, bit5: the same event as soft (then it is not written again). Then each
/// written mark in that order: the first one with its `occurredAt` (zigzag ms) and position (varint)
/// in full, the others as zigzag differences from the first; a descriptor byte (bits 0–3 kind code,
/// bit 4 beforeRelay, bits 5–7 failure type code); the reason code (one byte) only when there is a
/// failure type. A delivered message (relay + delivery) takes about 19 bytes.
enum StateCodec {
    /// Bump when the layout or the fold rules change: the projection is then rebuilt from the log.
    /// 2: the valid-time steps and buckets (``ValidTime``) joined the projection.
    /// 3: this compact state layout.
    /// 4: states packed 16 to an entry (``StateBlock``).
    static let layoutVersion: UInt64 = 5

    /// The most bytes an encoded state takes: the presence byte, then four marks of at most
    /// 10 + 10 + 1 + 1 bytes.
    static let maxBytes = 1 + 4 * 22

    static func encode(_ s: MessageState) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: maxBytes) { buffer, count in
            count = encode(s, into: UnsafeMutableRawPointer(buffer.baseAddress!))
        }
    }

    /// Writes the encoding of `s` at `p`, which has room for ``maxBytes``; returns its length.
    /// Allocation-free (for the rebuild, which encodes every message's state).
    static func encode(_ s: MessageState, into p: UnsafeMutableRawPointer) -> Int {
        var w = RawWriter(p)
        var presence: UInt8 = 0
        if s.relay != nil { presence |= 1 }
        if s.impliedRelay != nil { presence |= 2 }
        if s.final != nil { presence |= 4 }
        if s.soft != nil { presence |= 8 }
        if let i = s.impliedRelay, i == s.final { presence |= 16 }
        else if let i = s.impliedRelay, i == s.soft { presence |= 32 }
        w.u8(presence)
        var base: OutcomeMark?
        if let m = s.relay { write(m, base: &base, &w) }
        if presence & 48 == 0, let m = s.impliedRelay { write(m, base: &base, &w) }
        if let m = s.final { write(m, base: &base, &w) }
        if let m = s.soft { write(m, base: &base, &w) }
        return w.count
    }

    /// One written mark: the first one (`base` nil) in full, the others relative to it.
    @inline(__always)
    private static func write(_ m: OutcomeMark, base: inout OutcomeMark?, _ w: inout RawWriter) {
        if let b = base {
            w.zigzag(m.occurredAt.millisecondsSinceEpoch &- b.occurredAt.millisecondsSinceEpoch)
            w.zigzag(Int64(bitPattern: m.position &- b.position))
        } else {
            w.zigzag(m.occurredAt.millisecondsSinceEpoch)
            w.varint(m.position)
            base = m
        }
        let type = RecordCodec.typeCode(m.qualification?.type)
        w.u8(RecordCodec.kindCode(m.kind) | (m.beforeRelay ? 16 : 0) | type << 5)
        if type != 0 { w.u8(UInt8(m.qualification!.reason.code)) }
    }

    static func decode(_ b: UnsafeRawBufferPointer) throws(CorruptRecordError) -> MessageState {
        var r = ByteReader(b)
        let presence = try r.u8()
        guard presence & 48 != 48 else { throw CorruptRecordError(what: "message state: impliedRelay both final and soft") }
        var base: OutcomeMark?
        func mark() throws(CorruptRecordError) -> OutcomeMark {
            let at: Int64, position: UInt64
            if let b = base {
                at = b.occurredAt.millisecondsSinceEpoch &+ (try r.zigzag())
                position = b.position &+ UInt64(bitPattern: try r.zigzag())
            } else {
                at = try r.zigzag()
                position = try r.varint()
            }
            let descriptor = try r.u8()
            let kind = try RecordCodec.kind(code: descriptor & 15)
            let type = try RecordCodec.type(code: descriptor >> 5)
            var q: Qualification?
            if let type {
                guard let reason = try RecordCodec.reason(code: try r.u8()) else { throw CorruptRecordError(what: "message state: failure type without reason") }
                q = Qualification(type, reason)
            }
            let m = OutcomeMark(occurredAt: Instant(millisecondsSinceEpoch: at), position: position, kind: kind,
                                qualification: q, beforeRelay: descriptor & 16 != 0)
            if base == nil { base = m }
            return m
        }
        var s = MessageState()
        if presence & 1 != 0 { s.relay = try mark() }
        let impliedWritten = presence & 2 != 0 && presence & 48 == 0
        if impliedWritten { s.impliedRelay = try mark() }
        if presence & 4 != 0 { s.final = try mark() }
        if presence & 8 != 0 { s.soft = try mark() }
        if presence & 2 != 0 && !impliedWritten {
            s.impliedRelay = presence & 16 != 0 ? s.final : s.soft
            guard s.impliedRelay != nil else { throw CorruptRecordError(what: "message state: impliedRelay refers to a missing mark") }
        }
        guard r.isAtEnd else { throw CorruptRecordError(what: "message state: trailing bytes") }
        return s
    }
}
