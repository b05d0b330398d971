import LMDBKit

/// The work of one atomic append, inside one write transaction.
struct AppendBatch {
    let tables: Tables
    private var next: UInt64
    private let recordedAt: Instant
    private var nextDelivery: UInt32
    private var nextStream: UInt32
    /// Keyed by UTF-8 bytes (as the LMDB tables are), never by Swift's canonical string equivalence.
    private var deliveryOrdinals: [[UInt8]: UInt32] = [:]
    private var streams: [StreamKey: StreamInfo] = [:]
    /// Events appended by this batch, by position, with their index in the input batch.
    private var pending: [UInt64: (event: Event, index: Int)] = [:]
    private var projector: Projector
    private var positions: [UInt64] = []
    /// The hash chain's value at the last appended position (``HashChain``).
    private var chainHead: [UInt8]
    /// Per stream touched by the batch: event id (UTF-8) → position, stored and pending.
    private var ids: [UInt32: [[UInt8]: UInt64]] = [:]
    private var duplicates: [Int] = []

    init(_ txn: borrowing Transaction, tables: Tables, now: Instant, rules: TextQualifier) throws {
        self.tables = tables
        self.projector = Projector(rules: rules)
        if let last = try txn.last(tables.log) {
            let position = last.key.withUnsafeBytes { Key.readU64($0) }
            let header: RecordCodec.Header
            do {
                header = try last.value.withUnsafeBytes { try RecordCodec.header($0) }
            } catch let error as CorruptRecordError {
                throw LedgerError.corrupt(position: position, what: error.what)
            }
            next = position + 1
            recordedAt = max(now, header.recordedAt)
            guard let head = try txn.get(tables.hashes, key: Key.u64(position)), head.count == 32 else {
                throw LedgerError.corrupt(position: position, what: "no hash-chain entry for the last record")
            }
            chainHead = head
        } else {
            next = 1
            recordedAt = now
            chainHead = HashChain.genesis
        }
        nextDelivery = (try txn.last(tables.deliveryNames).map { $0.key.withUnsafeBytes { Key.readU32($0) } } ?? 0) + 1
        nextStream = (try txn.last(tables.streams).map { $0.key.withUnsafeBytes { Key.readU32($0) } } ?? 0) + 1
    }

    var result: AppendResult {
        AppendResult(positions: positions, duplicates: duplicates, lastPosition: next - 1)
    }

    mutating func add(_ e: Event, index: Int, _ txn: borrowing Transaction) throws {
        let key = e.streamKey
        var info = try stream(for: key, txn)
        if let original = try findRecorded(e, index: index, in: info, key: key, txn) {
            positions.append(original)
            duplicates.append(index)
            return
        }
        let position = next
        let previous = info.head
        next += 1
        let record = RecordCodec.encode(e, stream: info.ordinal, previous: info.head, recordedAt: recordedAt,
                                        definesStream: info.head == 0)
        try txn.put(tables.log, key: Key.u64(position), value: record, mode: .append)
        chainHead = HashChain.next(chainHead, position: position, record: record)
        try txn.put(tables.hashes, key: Key.u64(position), value: chainHead, mode: .append)
        pending[position] = (e, index)
        ids[info.ordinal, default: [:]][Array(e.id.utf8)] = position
        info.head = position
        info.count += 1
        streams[key] = info
        positions.append(position)
        if e.kind.isMessageEvent {
            try projector.apply(e, position: position, recordedAt: recordedAt, previous: previous, stream: info.ordinal,
                                delivery: info.deliveryOrdinal, txn, tables)
        }
    }

    /// Looks `e.id` up among its stream's events: the recorded position when the same event is
    /// there, a conflict error when the id is there with other content, `nil` when absent.
    ///
    /// The first lookup in a stream walks its chain once (each record links to the previous one of
    /// its stream) and keeps the ids for the rest of the batch, so a batch costs one walk per stream
    /// it touches, not one per event.
    private mutating func findRecorded(_ e: Event, index: Int, in info: StreamInfo, key: StreamKey,
                                       _ txn: borrowing Transaction) throws -> UInt64? {
        if ids[info.ordinal] == nil { ids[info.ordinal] = try storedIds(from: info.head, txn) }
        guard let position = ids[info.ordinal]![Array(e.id.utf8)] else { return nil }
        let recorded: Event
        if let pendingEvent = pending[position]?.event {
            recorded = pendingEvent
        } else {
            var stored = try txn.withValue(tables.log, key: Key.u64(position)) { try RecordCodec.decode($0).event }!
            stored.delivery = e.kind == .efsFlag ? "" : key.delivery
            stored.recipient = key.recipient
            recorded = stored
        }
        guard recorded.hasSameContent(as: e) else {
            let other = pending[position]?.index
            throw LedgerError.conflict(index: index, eventId: e.id, stream: key,
                                       recordedPosition: other == nil ? position : nil, batchIndex: other)
        }
        return position
    }

    /// The ids of a stream's stored events, by walking its chain from `head`.
    private func storedIds(from head: UInt64, _ txn: borrowing Transaction) throws -> [[UInt8]: UInt64] {
        var result: [[UInt8]: UInt64] = [:]
        var p = head
        while p != 0 {
            let position = p
            guard let found = try txn.withValue(tables.log, key: Key.u64(position), { try RecordCodec.idAndPrevious($0) }) else {
                throw LedgerError.corrupt(position: position, what: "stream chain points to a missing record")
            }
            let id = Array(found.id.utf8)
            if result[id] == nil { result[id] = position }
            guard found.previous < position else { throw LedgerError.corrupt(position: position, what: "stream chain does not go backwards") }
            p = found.previous
        }
        return result
    }

    private mutating func stream(for key: StreamKey, _ txn: borrowing Transaction) throws -> StreamInfo {
        if let info = streams[key] { return info }
        let delivery = try deliveryOrdinal(key.delivery, txn)
        let indexKey = Tables.streamIndexKey(delivery: delivery, recipient: key.recipient)
        let info: StreamInfo
        if let ordinal = try txn.withValue(tables.streamIndex, key: indexKey, { Key.readU32($0) }) {
            guard let stored = try txn.withValue(tables.streams, key: Key.u32(ordinal), { try StreamInfo(ordinal: ordinal, bytes: $0) }) else {
                throw LedgerError.corrupt(position: nil, what: "stream \(ordinal) is indexed but not in the streams table")
            }
            info = stored
        } else {
            let ordinal = nextStream
            nextStream += 1
            try txn.put(tables.streamIndex, key: indexKey, value: Key.u32(ordinal), mode: .insertOnly)
            info = StreamInfo(ordinal: ordinal, deliveryOrdinal: delivery, recipient: key.recipient, head: 0, count: 0)
        }
        streams[key] = info
        return info
    }

    private mutating func deliveryOrdinal(_ delivery: String, _ txn: borrowing Transaction) throws -> UInt32 {
        if delivery.isEmpty { return 0 }
        let key = Array(delivery.utf8)
        if let d = deliveryOrdinals[key] { return d }
        let ordinal: UInt32
        if let stored = try txn.withValue(tables.deliveries, key: key, { Key.readU32($0) }) {
            ordinal = stored
        } else {
            ordinal = nextDelivery
            nextDelivery += 1
            try txn.put(tables.deliveries, key: key, value: Key.u32(ordinal), mode: .insertOnly)
            try txn.put(tables.deliveryNames, key: Key.u32(ordinal), value: key, mode: .append)
        }
        deliveryOrdinals[key] = ordinal
        return ordinal
    }

    /// Writes the touched streams and the projection with its checkpoint.
    mutating func finish(_ txn: borrowing Transaction) throws {
        for info in streams.values.sorted(by: { $0.ordinal < $1.ordinal }) where info.count > 0 {
            try txn.put(tables.streams, key: Key.u32(info.ordinal), value: info.bytes)
        }
        try projector.write(txn, tables, checkpoint: next - 1)
    }
}
