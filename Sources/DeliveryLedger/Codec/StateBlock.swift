import LMDBKit

/// The `messageState` table packs the states of ``width`` consecutive stream ordinals into one
/// entry (projection layout 4): an LMDB entry costs 14 bytes besides its value (node header, key,
/// page pointer), more than a typical state (``StateCodec``, ~19 bytes), so one entry per message
/// would spend almost half of the table on overhead.
///
/// Key: the block number, `ordinal / width`, u32 big-endian. Value: a u16 big-endian bitmap (bit
/// `i` set when ordinal `block × width + i` has a state), then, for each set bit in ascending
/// order, the state's length (varint) and its ``StateCodec`` bytes. A block with no state is not
/// stored.
struct StateBlock {
    static let width: UInt32 = 16

    /// Encoded states by slot (`ordinal % width`); `nil` where there is none.
    var states: [[UInt8]?] = Array(repeating: nil, count: Int(width))

    init() {}

    init(bytes b: UnsafeRawBufferPointer) throws(CorruptRecordError) {
        var r = ByteReader(b)
        let bitmap = UInt16(try r.u8()) << 8 | UInt16(try r.u8())
        for slot in 0..<Int(Self.width) where bitmap & (1 << slot) != 0 {
            let length = try r.varint()
            guard length <= UInt64(b.count) else { throw CorruptRecordError(what: "message state block: length \(length) too large") }
            states[slot] = Array(try r.bytes(Int(length)))
        }
        guard r.isAtEnd else { throw CorruptRecordError(what: "message state block: trailing bytes") }
    }

    static func block(of ordinal: UInt32) -> UInt32 { ordinal / width }
    static func slot(of ordinal: UInt32) -> Int { Int(ordinal % width) }

    var bytes: [UInt8] {
        var bitmap: UInt16 = 0
        var size = 2
        for (slot, s) in states.enumerated() { if let s { bitmap |= 1 << slot; size += 1 + s.count } }
        var w = ByteWriter(capacity: size)
        w.u8(UInt8(bitmap >> 8)); w.u8(UInt8(bitmap & 0xFF))
        for case let s? in states { w.blob(s) }
        return w.bytes
    }

    /// Calls `body` with each stored state of a block's bytes: its slot and its ``StateCodec``
    /// bytes (valid during the call), in slot order.
    static func forEach(in b: UnsafeRawBufferPointer, _ body: (Int, UnsafeRawBufferPointer) throws -> Void) throws {
        var r = ByteReader(b)
        let bitmap = UInt16(try r.u8()) << 8 | UInt16(try r.u8())
        for slot in 0..<Int(width) where bitmap & (1 << slot) != 0 {
            let length = try r.varint()
            guard length <= UInt64(b.count) else { throw CorruptRecordError(what: "message state block: length \(length) too large") }
            let start = r.offset
            _ = try r.bytes(Int(length))
            try body(slot, UnsafeRawBufferPointer(rebasing: b[start..<start + Int(length)]))
        }
        guard r.isAtEnd else { throw CorruptRecordError(what: "message state block: trailing bytes") }
    }

    /// The state of `ordinal` in a block's bytes (only its bytes are decoded), or `nil`.
    static func state(in b: UnsafeRawBufferPointer, ordinal: UInt32) throws -> MessageState? {
        let wanted = slot(of: ordinal)
        var found: MessageState?
        try forEach(in: b) { slot, bytes in
            if slot == wanted { found = try StateCodec.decode(bytes) }
        }
        return found
    }
}

extension Tables {
    /// The persisted state of message stream `ordinal`, or `nil` when it has none.
    /// - Throws: ``CorruptRecordError`` when its block does not decode; ``LMDBError``.
    func messageState(_ ordinal: UInt32, _ txn: borrowing Transaction) throws -> MessageState? {
        try Key.withU32(StateBlock.block(of: ordinal)) { k in
            try txn.withValue(messageState, key: k) { try StateBlock.state(in: $0, ordinal: ordinal) }
        } ?? nil
    }

    /// Writes the states of `updates` (ordinal, ``StateCodec`` bytes), which must be sorted by
    /// ordinal: each block they fall in is read, changed and written once.
    ///
    /// Takes the checkpoint's own array (``PreparedCheckpoint/states``): an argument of another tuple
    /// type, such as `(UInt32, [UInt8])` without labels, is converted by copying every element, each
    /// state's bytes retained and then released — inside the checkpoint's write transaction, which
    /// keeps appends waiting (`_arrayForceCast` and its releases: taking the array as it is cut the
    /// samples in ``PreparedCheckpoint/write(_:_:rules:)`` by a third, 269 → 149 per 8 s, in `perf`
    /// profiles of `ledger serve` under `Tools/serve-load --rate 60000`, 2026-12-05).
    func writeEncodedStates(_ updates: [(ordinal: UInt32, encoded: [UInt8])], _ txn: borrowing Transaction) throws {
        // Blocks past the table's last one are appended (`MDB_APPEND`, see ``PreparedCheckpoint``):
        // they are not looked up either, since none can be stored.
        var lastBlock = try txn.last(messageState).map { $0.key.withUnsafeBytes { Key.readU32($0) } }
        var current: (block: UInt32, value: StateBlock, past: Bool)?
        for (ordinal, state) in updates {
            let block = StateBlock.block(of: ordinal)
            if current?.block != block {
                if let c = current { try putBlock(c.block, c.value, txn, mode: c.past ? .append : .upsert) }
                let past = lastBlock.map { block > $0 } ?? true
                if past { lastBlock = nil }
                let stored = past ? nil : try Key.withU32(block) { k in try txn.withValue(messageState, key: k) { try StateBlock(bytes: $0) } }
                current = (block, stored ?? StateBlock(), past)
            }
            current!.value.states[StateBlock.slot(of: ordinal)] = state
        }
        if let c = current { try putBlock(c.block, c.value, txn, mode: c.past ? .append : .upsert) }
    }

    private func putBlock(_ block: UInt32, _ value: StateBlock, _ txn: borrowing Transaction, mode: Transaction.PutMode = .upsert) throws {
        let bytes = value.bytes
        try Key.withU32(block) { k in try bytes.withUnsafeBytes { try txn.put(messageState, key: k, value: $0, mode: mode) } }
    }

    /// Bulk-loads states in ascending ordinal order into an empty `messageState` table
    /// (`MDB_APPEND`): call ``add(_:encoded:_:)`` per message, then ``finish(_:)``. One byte
    /// buffer is reused from block to block.
    struct StateLoader {
        let tables: Tables
        private var block: UInt32?
        private var bitmap: UInt16 = 0
        private var body = ByteWriter(capacity: 512)

        init(_ tables: Tables) { self.tables = tables }

        /// Adds the ``StateCodec`` bytes of the state of `ordinal` (greater than the previous one).
        mutating func add(_ ordinal: UInt32, encoded: UnsafeRawBufferPointer, _ txn: borrowing Transaction) throws {
            let b = StateBlock.block(of: ordinal)
            if block != b {
                try finish(txn)
                block = b
            }
            bitmap |= 1 << StateBlock.slot(of: ordinal)
            body.varint(UInt64(encoded.count))
            body.bytes.append(contentsOf: encoded)
        }

        mutating func finish(_ txn: borrowing Transaction) throws {
            guard let b = block else { return }
            var value = ByteWriter(capacity: body.bytes.count + 2)
            value.u8(UInt8(bitmap >> 8)); value.u8(UInt8(bitmap & 0xFF))
            value.bytes.append(contentsOf: body.bytes)
            try Key.withU32(b) { k in try value.bytes.withUnsafeBytes { try tables.txnPut(k, $0, txn) } }
            block = nil
            bitmap = 0
            body.bytes.removeAll(keepingCapacity: true)
        }
    }

    fileprivate func txnPut(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, _ txn: borrowing Transaction) throws {
        try txn.put(messageState, key: key, value: value, mode: .append)
    }
}
