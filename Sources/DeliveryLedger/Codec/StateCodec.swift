/// Binary encoding of a persisted ``MessageState`` (projection layout ``layoutVersion``).
///
/// A presence byte (bit0 relay, bit1 impliedRelay, bit2 final, bit3 soft) followed by each present
/// mark: zigzag occurredAt ms, varint position, u8 kind code, u8 failure type code, u8 reason code
/// (255 none), u8 beforeRelay.
enum StateCodec {
    /// Bump when the layout or the fold rules change: the projection is then rebuilt from the log.
    /// 2: the valid-time steps and buckets (``ValidTime``) joined the projection.
    static let layoutVersion: UInt64 = 2

    static func encode(_ s: MessageState) -> [UInt8] {
        var w = ByteWriter(capacity: 48)
        let marks = [s.relay, s.impliedRelay, s.final, s.soft]
        var presence: UInt8 = 0
        for (i, m) in marks.enumerated() where m != nil { presence |= 1 << UInt8(i) }
        w.u8(presence)
        for case let m? in marks {
            w.zigzag(m.occurredAt.millisecondsSinceEpoch)
            w.varint(m.position)
            w.u8(RecordCodec.kindCode(m.kind))
            w.u8(RecordCodec.typeCode(m.qualification?.type))
            w.u8(m.qualification.map { UInt8($0.reason.code) } ?? 255)
            w.u8(m.beforeRelay ? 1 : 0)
        }
        return w.bytes
    }

    static func decode(_ b: UnsafeRawBufferPointer) throws(CorruptRecordError) -> MessageState {
        var r = ByteReader(b)
        let presence = try r.u8()
        var marks: [OutcomeMark?] = []
        for i in 0..<4 {
            guard presence & (1 << UInt8(i)) != 0 else { marks.append(nil); continue }
            let at = Instant(millisecondsSinceEpoch: try r.zigzag())
            let position = try r.varint()
            let kind = try RecordCodec.kind(code: try r.u8())
            let type = try RecordCodec.type(code: try r.u8())
            let reason = try RecordCodec.reason(code: try r.u8())
            let before = try r.u8() != 0
            var q: Qualification?
            if let type, let reason { q = Qualification(type, reason) }
            marks.append(OutcomeMark(occurredAt: at, position: position, kind: kind, qualification: q, beforeRelay: before))
        }
        guard r.isAtEnd else { throw CorruptRecordError(what: "message state: trailing bytes") }
        var s = MessageState()
        s.relay = marks[0]; s.impliedRelay = marks[1]; s.final = marks[2]; s.soft = marks[3]
        return s
    }
}
