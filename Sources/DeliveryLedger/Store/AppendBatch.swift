import LMDBKit

/// The work of one atomic append, inside one write transaction: the records and their hash-chain
/// entries are written (`MDB_APPEND`), duplicate receipts noted; what the projection makes of the
/// new records is computed on top of the tail (``ProjectionReader``) and kept as a ``Tail`` delta
/// (``delta``), merged into the ledger's tail once the transaction has committed.
///
/// Per stream the batch touches, one slot: its ``StreamInfo`` and the ids of its events, read by one
/// walk of its chain at the first touch — the same walk gives the projection the stream's earlier
/// events (``Projector/prime(slot:stream:delivery:before:_:_:)``).
///
/// The same fold serves records appended by another process (``fold(position:record:_:)``): a
/// reader, or a writer whose tail is behind the log, folds them exactly as their appender did.
struct AppendBatch {
    let tables: Tables
    let reader: ProjectionReader
    /// The input batch (events are referred to by index, never copied: an `Array`'s subscript
    /// returns a copy of the element, retaining each of an event's strings, where a buffer
    /// pointer's lends it; the caller keeps the array alive for the batch's life).
    private let events: UnsafeBufferPointer<Event>
    private var next: UInt64
    private let recordedAt: Instant
    /// Keyed by UTF-8 bytes (as the LMDB tables are), never by Swift's canonical string equivalence.
    private var deliveryOrdinals: [ByteKey: UInt32] = [:]
    private var lastDelivery: (id: String, ordinal: UInt32)?
    /// The UTF-8 ids of the deliveries this batch looked up, by ordinal (for its ``AppendSummary``).
    private var deliveryNames: [UInt32: [UInt8]] = [:]
    /// One buffer for the records this batch encodes.
    private var recordBuffer = ByteWriter(capacity: 4096)
    private var slotOfStream: [StreamKey: Int] = [:]
    private var slotOfOrdinal: [UInt32: Int] = [:]
    private var slots: [(info: StreamInfo, ids: IdSet)] = []
    /// The first position this batch appends; `pending[p - firstPosition]` is the input index of
    /// the event appended at `p`.
    private let firstPosition: UInt64
    private var pending: [Int] = []
    private var projector: Projector
    private let rules: TextQualifier
    /// Reads the raw bytes of recorded failures the rules re-qualify (``Projector/item(_:position:record:rules:raw:recipient:)``).
    private let rawDecoder: RawDecoder
    /// Compresses the raw bytes of the records this batch appends (``RawEncoding``).
    private var compressor: RawCompressor
    private var positions: [UInt64] = []
    /// The hash chain's head before this append (``HashChain``).
    private var chainHead: [UInt8]
    /// This append's link of the chain, begun at its first new record.
    private var link: HashChain.Link?
    private var duplicates: [Int] = []
    /// Events of this batch that were already recorded: (delivery, original position) → times.
    private var receipts: [DuplicateReceipt: UInt64] = [:]
    private struct DuplicateReceipt: Hashable { var delivery: UInt32, original: UInt64 }
    /// The changes of the tail (``finish(_:)`` completes it).
    private(set) var delta: Tail

    init(_ txn: borrowing Transaction, reader: ProjectionReader, events: UnsafeBufferPointer<Event>, now: Instant, rules: TextQualifier,
         raw: RawDecoder, compressor: RawCompressor) throws {
        self.tables = reader.tables
        self.reader = reader
        self.events = events
        self.rules = rules
        self.rawDecoder = raw
        self.compressor = compressor
        self.projector = Projector(rules: rules)
        self.delta = reader.tail.emptyDelta
        positions.reserveCapacity(events.count)
        slotOfStream.reserveCapacity(events.count)
        slots.reserveCapacity(events.count)
        pending.reserveCapacity(events.count)
        projector.reserve(streams: events.count)
        if let last = try txn.last(tables.log) {
            let position = last.key.withUnsafeBytes { Key.readU64($0) }
            let header: RecordCodec.Header
            do {
                header = try last.value.withUnsafeBytes { try RecordCodec.header($0) }
            } catch let error as CorruptRecordError {
                throw LedgerError.corrupt(position: position, what: error.what)
            }
            guard position == reader.tail.last else {
                throw LedgerError.corrupt(position: position, what: "the projection's tail ends at \(reader.tail.last), the log at \(position)")
            }
            next = position + 1
            recordedAt = max(now, header.recordedAt)
            guard let last = try txn.last(tables.hashes),
                  let entry = last.key.withUnsafeBytes({ k in last.value.withUnsafeBytes { HashChain.Entry(key: k, value: $0) } }),
                  entry.last == position else {
                throw LedgerError.corrupt(position: position, what: "no hash-chain entry for the last record")
            }
            chainHead = entry.head
        } else {
            next = 1
            recordedAt = now
            chainHead = HashChain.genesis
        }
        firstPosition = next
    }

    /// A fold of records already in the log (appended by another process, or before a crash), on
    /// top of `reader`'s tail: call ``fold(position:record:_:)`` for each in position order, then
    /// ``finish(_:)``.
    init(folding reader: ProjectionReader, rules: TextQualifier, raw: RawDecoder) {
        self.tables = reader.tables
        self.reader = reader
        self.events = UnsafeBufferPointer(start: nil, count: 0)
        self.rules = rules
        self.rawDecoder = raw
        self.compressor = .none
        self.projector = Projector(rules: rules)
        self.delta = reader.tail.emptyDelta
        next = reader.tail.last + 1
        recordedAt = Instant(millisecondsSinceEpoch: 0)
        chainHead = []
        firstPosition = next
    }

    var result: AppendResult {
        AppendResult(positions: positions, duplicates: duplicates, lastPosition: next - 1)
    }

    /// Appends input event `index` (or finds it already recorded).
    /// `precompressed`: its raw bytes compressed before the transaction (``RawDictionaries/precompress(_:)``).
    mutating func add(index: Int, precompressed: PrecompressedRaw? = nil, _ txn: borrowing Transaction) throws {
        let key = events[index].streamKey
        let slot = try slot(for: key, txn)
        let idHash = IdSet.hash(events[index].id)
        if let original = try findRecorded(index: index, idHash: idHash, slot: slot, key: key, txn) {
            positions.append(original)
            duplicates.append(index)
            receipts[DuplicateReceipt(delivery: slots[slot].info.deliveryOrdinal, original: original), default: 0] += 1
            return
        }
        let position = next
        let info = slots[slot].info
        next += 1
        recordBuffer.bytes.removeAll(keepingCapacity: true)
        let raw = try compressor.encode(events[index].raw, source: events[index].source, precompressed: precompressed, txn, tables.meta)
        RecordCodec.encode(events[index], stream: info.ordinal, previous: info.head, recordedAt: recordedAt,
                           definesStream: info.head == 0, raw: raw, into: &recordBuffer)
        if link == nil { link = HashChain.Link(previous: chainHead, first: position) }
        try recordBuffer.bytes.withUnsafeBytes { record in
            link!.add(position: position, record: record)
            try Key.withU64(position) { k in try txn.put(tables.log, key: k, value: record, mode: .append) }
        }
        pending.append(index)
        slots[slot].ids.insert(hash: idHash, position)
        slots[slot].info.head = position
        slots[slot].info.count += 1
        positions.append(position)
        if events[index].kind.isMessageEvent {
            let item = Projector.item(events[index], position: position, recordedAt: recordedAt, rules: rules)
            try projector.apply(item, slot: slot, stream: info.ordinal, delivery: info.deliveryOrdinal, txn, reader)
        }
    }

    /// Folds the record at `position` (the next one after the tail and what this fold saw).
    mutating func fold(position: UInt64, record: UnsafeRawBufferPointer, _ txn: borrowing Transaction) throws {
        guard position == next else { throw LedgerError.corrupt(position: position, what: "the log has a gap before this record") }
        let view: RecordCodec.FoldView
        do { view = try RecordCodec.foldView(record) } catch {
            throw LedgerError.corrupt(position: position, what: error.what)
        }
        let slot: Int
        if let s = slotOfOrdinal[view.stream] {
            slot = s
        } else if view.previous == 0 {
            // The stream's first record names it (delivery, recipient).
            let decoded: RecordCodec.Decoded
            do { decoded = try RecordCodec.decode(record, raw: .skip) } catch {
                throw LedgerError.corrupt(position: position, what: error.what)
            }
            guard decoded.definesStream else { throw LedgerError.corrupt(position: position, what: "the first record of stream \(view.stream) does not name it") }
            let delivery = try deliveryOrdinal(decoded.event.delivery, txn)
            let indexKey = Tables.streamIndexKey(delivery: delivery, recipient: decoded.event.recipient)
            delta.newStreams[ByteKey(indexKey)] = view.stream
            delta.nextStream = max(delta.nextStream, view.stream + 1)
            slot = newSlot(StreamInfo(ordinal: view.stream, deliveryOrdinal: delivery, recipient: decoded.event.recipient, head: 0, count: 0), ids: IdSet())
        } else {
            guard let info = try reader.streamInfo(view.stream, txn) else {
                throw LedgerError.corrupt(position: position, what: "stream \(view.stream) is not in the streams table")
            }
            slot = try existingSlot(info, txn)
        }
        guard slots[slot].info.head == view.previous else {
            throw LedgerError.corrupt(position: position, what: "links to \(view.previous) as the previous record of its stream; the stream's head is \(slots[slot].info.head)")
        }
        let info = slots[slot].info
        slots[slot].info.head = position
        slots[slot].info.count += 1
        next += 1
        if view.kind.isMessageEvent, !info.recipient.isEmpty {
            let item = try Projector.item(view, position: position, record: record, rules: rules, raw: rawDecoder, recipient: { info.recipient })
            try projector.apply(item, slot: slot, stream: info.ordinal, delivery: info.deliveryOrdinal, txn, reader)
        }
    }

    /// The input index of the event this batch appended at `position`, or `nil` (recorded earlier).
    private func pendingIndex(_ position: UInt64) -> Int? {
        position >= firstPosition ? pending[Int(position - firstPosition)] : nil
    }

    /// Looks event `index`'s id up among its stream's events: the recorded position when the same
    /// event is there, a conflict error when the id is there with other content, `nil` when absent.
    private func findRecorded(index: Int, idHash: Int, slot: Int, key: StreamKey, _ txn: borrowing Transaction) throws -> UInt64? {
        let found = try slots[slot].ids.first(hash: idHash) { position in
            if let i = pendingIndex(position) { return Self.sameBytes(events[i].id, events[index].id) }
            return try txn.withValue(tables.log, key: Key.u64(position)) { b in
                let view = try RecordCodec.foldView(b)
                var id = events[index].id
                return id.withUTF8 { UnsafeRawBufferPointer($0).elementsEqual(UnsafeRawBufferPointer(rebasing: b[view.id])) }
            } ?? false
        }
        guard let position = found else { return nil }
        let same: Bool
        if let i = pendingIndex(position) {
            same = events[i].hasSameContent(as: events[index])
        } else {
            var stored = try txn.withValue(tables.log, key: Key.u64(position)) { try RecordCodec.decode($0, raw: .skip).event }!
            stored.delivery = events[index].kind == .efsFlag ? "" : key.delivery
            stored.recipient = key.recipient
            same = stored.hasSameContent(as: events[index])
        }
        guard same else {
            let other = pendingIndex(position)
            throw LedgerError.conflict(index: index, eventId: events[index].id, stream: key,
                                       recordedPosition: other == nil ? position : nil, batchIndex: other)
        }
        return position
    }

    private static func sameBytes(_ a: String, _ b: String) -> Bool {
        var a = a, b = b
        return a.withUTF8 { x in b.withUTF8 { y in x.elementsEqual(y) } }
    }

    /// The slot of the stream `key`: found in this batch, or looked up (created when new). At the
    /// first touch of a stored stream, one walk of its chain collects its event ids and gives the
    /// projection its earlier events.
    private mutating func slot(for key: StreamKey, _ txn: borrowing Transaction) throws -> Int {
        if let slot = slotOfStream[key] { return slot }
        let delivery = try deliveryOrdinal(key.delivery, txn)
        let indexKey = ByteKey(Tables.streamIndexKey(delivery: delivery, recipient: key.recipient))
        let slot: Int
        if let ordinal = try reader.streamOrdinal(indexKey, txn) {
            guard let stored = try reader.streamInfo(ordinal, txn) else {
                throw LedgerError.corrupt(position: nil, what: "stream \(ordinal) is indexed but not in the streams table")
            }
            slot = try existingSlot(stored, txn)
        } else {
            let ordinal = delta.nextStream
            delta.nextStream += 1
            delta.newStreams[indexKey] = ordinal
            slot = newSlot(StreamInfo(ordinal: ordinal, deliveryOrdinal: delivery, recipient: key.recipient, head: 0, count: 0), ids: IdSet())
        }
        slotOfStream[key] = slot
        return slot
    }

    /// A slot for a stream recorded before this batch: one walk of its chain gives its ids and, for a
    /// message, the projection its earlier events.
    private mutating func existingSlot(_ info: StreamInfo, _ txn: borrowing Transaction) throws -> Int {
        var ids = IdSet()
        var before: [ValidTime.Item] = []
        let isMessage = !info.recipient.isEmpty
        try Projector.walk(from: info.head, txn, tables) { position, view, record in
            ids.insert(hash: IdSet.hash(UnsafeRawBufferPointer(rebasing: record[view.id])), position)
            if isMessage, view.kind.isMessageEvent {
                before.append(try Projector.item(view, position: position, record: record, rules: rules, raw: rawDecoder, recipient: { info.recipient }))
            }
        }
        if isMessage { try projector.prime(slot: slots.count, stream: info.ordinal, delivery: info.deliveryOrdinal, before: before, txn, reader) }
        return newSlot(info, ids: ids)
    }

    private mutating func newSlot(_ info: StreamInfo, ids: IdSet) -> Int {
        slots.append((info, ids))
        slotOfOrdinal[info.ordinal] = slots.count - 1
        return slots.count - 1
    }

    private mutating func deliveryOrdinal(_ delivery: String, _ txn: borrowing Transaction) throws -> UInt32 {
        if delivery.isEmpty { return 0 }
        if let last = lastDelivery, Self.sameBytes(last.id, delivery) { return last.ordinal }  // feeds come in runs of one delivery
        let key = Array(delivery.utf8)
        if let d = deliveryOrdinals[ByteKey(key)] { lastDelivery = (delivery, d); return d }
        let ordinal: UInt32
        if let stored = try reader.deliveryOrdinal(key, txn) {
            ordinal = stored
        } else {
            // New deliveries get the next ordinal in the order of their first record, so that a
            // fold of the same records by another process gives the same ordinals.
            ordinal = delta.nextDelivery
            delta.nextDelivery += 1
            delta.deliveryOrdinals[ByteKey(key)] = ordinal
            delta.deliveryNames[ordinal] = key
        }
        deliveryOrdinals[ByteKey(key)] = ordinal
        deliveryNames[ordinal] = key
        lastDelivery = (delivery, ordinal)
        return ordinal
    }

    /// Writes the duplicate receipts and completes ``delta``: the touched streams and the projection.
    mutating func finish(_ txn: borrowing Transaction, startedAt: Double) throws {
        if let link {
            // One hash-chain entry for the whole append, under its last position.
            try txn.put(tables.hashes, key: Key.u64(next - 1), value: link.finish(last: next - 1) + link.digests, mode: .append)
        }
        try DuplicateReceipts.record(receipts.map { ($0.key.delivery, $0.key.original, $0.value) }, at: recordedAt, txn, tables.duplicates)
        for (info, _) in slots where info.count > 0 && info.head >= firstPosition {
            delta.streams[info.ordinal] = info
        }
        projector.finish(into: &delta)
        delta.last = next - 1
        if !delta.isEmpty { delta.startedAt = startedAt }
        if link != nil { try writeSummary(txn) }
    }

    /// Writes this append's ``AppendSummary``: the heads of the streams it touched, and the
    /// counters and declared recipient count of the deliveries it touched (after ``finish(_:startedAt:)``
    /// completed the projector's part of ``delta``).
    private func writeSummary(_ txn: borrowing Transaction) throws {
        var heads: [(hash: UInt64, head: UInt64)] = []
        var declarationHeads: [UInt32: UInt64] = [:]
        var touched: Set<UInt32> = []
        for (info, _) in slots where info.head >= firstPosition {
            heads.append((AppendSummary.streamHash(delivery: info.deliveryOrdinal, recipient: info.recipient), info.head))
            touched.insert(info.deliveryOrdinal)
            if info.recipient.isEmpty { declarationHeads[info.deliveryOrdinal] = info.head }
        }
        var deliveries: [(name: [UInt8], entry: AppendSummary.DeliveryEntry)] = []
        for d in touched.sorted() where d != 0 {
            guard let name = deliveryNames[d] else { throw LedgerError.corrupt(position: nil, what: "delivery \(d) has no id in its append") }
            let counters = try delta.counters[d] ?? reader.counters(d, txn)
            // The declared count: the delivery's previous entry's when this append declared nothing
            // for it (one read, not a walk of its declarations), else — or when that entry does not
            // decode (damage: this append writes it anew) — a walk of its declarations.
            let toDeliver: Int64?
            if declarationHeads[d] == nil, let currentCounters = tables.currentCounters,
               let previous = try txn.withValue(currentCounters, key: name, { try? AppendSummary.DeliveryEntry(bytes: $0) }) ?? nil {
                toDeliver = previous.toDeliver
            } else {
                let head = try declarationHeads[d] ?? reader.streamInfo(delivery: d, recipient: "", txn)?.head ?? 0
                toDeliver = try Ledger.declaration(head: head, txn, tables).toDeliver
            }
            deliveries.append((name, AppendSummary.DeliveryEntry(ordinal: d, position: next - 1, toDeliver: toDeliver, counters: counters)))
        }
        try AppendSummary.write(first: firstPosition, last: next - 1, touched: touched.sorted(), heads: heads, deliveries: deliveries, txn, tables)
    }
}

/// The event ids of one stream, as hashes of their UTF-8 bytes → positions, in insertion order
/// (walking a chain backwards, the latest record first). A hash only names candidates: the caller
/// compares the ids themselves (``first(hash:where:)``), so a collision is never a false match.
/// A short list searched in order while the stream is small (the common case: a message has a
/// few events), a dictionary beyond that.
struct IdSet {
    private var list: [(hash: Int, position: UInt64)] = []
    private var map: [Int: [UInt64]]?
    private static let listLimit = 32

    /// The hash of an id's UTF-8 bytes (this process's seeded `Hasher`: never stored).
    static func hash(_ bytes: UnsafeRawBufferPointer) -> Int {
        var h = Hasher()
        h.combine(bytes: bytes)
        return h.finalize()
    }

    static func hash(_ id: String) -> Int {
        var id = id
        return id.withUTF8 { hash(UnsafeRawBufferPointer($0)) }
    }

    mutating func insert(hash: Int, _ position: UInt64) {
        if map != nil {
            map![hash, default: []].append(position)
            return
        }
        list.append((hash, position))
        if list.count > Self.listLimit {
            var m: [Int: [UInt64]] = [:]
            for entry in list { m[entry.hash, default: []].append(entry.position) }
            map = m
            list = []
        }
    }

    /// The first position inserted with `hash` whose id `isSameId` confirms, or `nil`.
    func first(hash: Int, where isSameId: (UInt64) throws -> Bool) rethrows -> UInt64? {
        if let map {
            for p in map[hash] ?? [] where try isSameId(p) { return p }
            return nil
        }
        for entry in list where entry.hash == hash {
            if try isSameId(entry.position) { return entry.position }
        }
        return nil
    }
}
