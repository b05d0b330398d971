import Crypto
import LMDBKit
import ZstdKit

/// One thing `verify` found wrong.
public struct VerifyProblem: Sendable, Hashable, CustomStringConvertible {
    /// The first log position concerned, when there is one.
    public var position: UInt64?
    /// What differs, for people.
    public var what: String
    /// Whether the problem is in the persisted projection (message states, delivery counters, the
    /// valid-time index) and not in the log or its indexes: the log is then the truth still, and
    /// `ledger reproject` (``Ledger/rebuildProjection()``) rebuilds the projection from it.
    public var inProjection: Bool = false

    public var description: String { (position.map { "position \($0): " } ?? "") + what }
}

/// What `verify` checked and found.
public struct VerifyReport: Sendable, Hashable {
    /// Records read.
    public var records: UInt64
    /// The hash chain's head, hex: keep it elsewhere to detect a rewrite of the whole chain.
    public var head: String
    /// Problems, as found: first those of the log itself (gaps, hash chain, decoding, links) in
    /// position order, then those of the indexes and the projection (at most the number asked for).
    public var problems: [VerifyProblem]
    /// Whether nothing is wrong.
    public var isHealthy: Bool { problems.isEmpty }
}

extension Ledger {
    /// Walks LMDB's pages (``LMDBKit/Environment/auditPages()``: every page where its parent says, in
    /// one table, keys in order, counts as recorded, none lost, the free-page list naming no page in
    /// use) and checks the table directory against the ledger's tables — the first part of
    /// ``verify(maximumProblems:)``, reading every page but decoding no record: what a writer should
    /// run before it writes to a ledger it did not just verify (LMDB allocates pages from the free-page
    /// list, so a list naming a page in use makes a write destroy records).
    /// - Throws: ``LedgerError/damaged(path:what:)`` naming the problems.
    public func verifyStructure() throws(LedgerError) {
        try run { try checkStructure() }
    }

    /// Walks LMDB's pages (``Environment/auditPages()``) and checks the table directory against
    /// ``Tables``: throws ``LedgerError/damaged(path:what:)`` naming the problems.
    func checkStructure() throws {
        let audit: PageAudit
        do {
            audit = try environment.auditPages()
        } catch let e as DataFileError {
            throw LedgerError.damaged(path: path, what: e.what)
        }
        var problems = audit.problems
        let known = Set(Tables.names + Tables.addedNames)
        for table in audit.tables {
            if !known.contains(table.name) {
                problems.append("LMDB's table directory names a table \"\(table.name)\", which is not one of the ledger's")
            } else if table.flags != 0 && table.flags & 0x04 == 0 {
                problems.append("table \(table.name) has flags 0x\(String(table.flags, radix: 16)) in LMDB's table directory; the ledger's tables have none")
            }
        }
        for name in Tables.names where !audit.tables.contains(where: { $0.name == name }) {
            problems.append("table \(name) is missing from LMDB's table directory")
        }
        guard problems.isEmpty else {
            let more = audit.moreProblems > 0 ? "; and \(audit.moreProblems) more" : ""
            throw LedgerError.damaged(path: path, what: "LMDB's pages do not add up (transaction \(audit.transactionID), pages 0–\(audit.lastPage)): "
                                      + problems.joined(separator: "; ") + more)
        }
    }

    /// Checks the ledger against its log (domain.md §2, issue "Time in the ledger" §7): the log is
    /// gap-free and every record decodes; the SHA-256 hash chain (``HashChain``: one link per
    /// append, with a digest per record) recomputed from the record bytes equals the stored one, and
    /// the first record whose bytes differ is named; each record's link to the previous
    /// record of its stream, the stream heads and counts, and the message index agree with the log;
    /// `deliveries` and `deliveryNames` are exact inverses naming every delivery a stream uses; every
    /// `streams` entry is a stream of the log and every `messageState` key a stream with message events;
    /// the persisted projection (per-message states, per-delivery counters, checkpoint) equals a fold
    /// from scratch, and the valid-time steps and minute checkpoints (``ValidTime``) add up to it. Reads the whole log in one read transaction.
    ///
    /// First of all, LMDB's own structure is walked (``PageAudit``): every page of every table is
    /// where its parent says, belongs to one table only, and is counted in its table's record; every
    /// page is in a table or free; every table in LMDB's table directory is one of the ledger's, with
    /// the flags the ledger gives its tables (none). A structure that does not add up is
    /// ``LedgerError/damaged(path:what:)`` naming what is wrong: the records read through it cannot be trusted.
    /// - Parameter maximumProblems: stop collecting after this many.
    /// - Throws: ``LedgerError/damaged(path:what:)`` when the structure or a read fails.
    public func verify(maximumProblems: Int = 20) throws(LedgerError) -> VerifyReport {
        try run {
            try checkStructure()
            var tailProblem: LedgerError?
            return try withView(tailFailure: { tailProblem = $0 }) { txn, view in
                var problems: [VerifyProblem] = []
                var inProjection = false   // set once the checks reach the persisted projection
                func report(_ p: UInt64?, _ what: String) {
                    if problems.count < maximumProblems { problems.append(VerifyProblem(position: p, what: what, inProjection: inProjection)) }
                }

                var expected: UInt64 = 1
                var lastOfStream: [UInt32: UInt64] = [:]
                var countOfStream: [UInt32: UInt64] = [:]
                var states: [UInt32: MessageState] = [:]
                var streamInfos: [UInt32: StreamInfo] = [:]
                var indexProblems: [(UInt64?, String)] = []  // found before the log is read, reported after its problems
                try txn.scan(tables.streams) { k, v in
                    let ordinal = Key.readU32(k)
                    guard k.count == 4 else {
                        indexProblems.append((nil, "the streams table has a key of \(k.count) bytes (\(Self.hex(k))), not a stream ordinal"))
                        return true
                    }
                    do { streamInfos[ordinal] = try StreamInfo(ordinal: ordinal, bytes: v) } catch let e as CorruptRecordError {
                        indexProblems.append((nil, "the streams table entry of stream \(ordinal) does not decode: \(e.what)"))
                    }
                    return true
                }
                for (ordinal, info) in view.tail.streams { streamInfos[ordinal] = info }  // heads moved after the checkpoint

                var chainCheck = ChainCheck()
                // The raw bytes' dictionaries (``RawEncoding``): each must be the one its introducing
                // record's digest names (the hash chain covers the digest); a record's raw bytes must
                // decompress.
                let (dictionaries, dictionaryProblems) = try rawDictionaries.all(txn, tables.meta)
                for (id, e) in dictionaryProblems.sorted(by: { $0.key < $1.key }) {
                    report(nil, "the raw-bytes dictionary \(id) in meta does not load: \(e.what)")
                }
                let raw = RawDecoder(dictionaries: dictionaries.mapValues { $0.dictionary })
                var introduced: Set<UInt32> = []
                // Dictionaries already named: their records' raw bytes are not decoded (no cascade).
                var badDictionaries = Set(dictionaryProblems.keys)
                let checkpointBefore = try txn.get(tables.meta, key: Tables.checkpointKey).map { $0.withUnsafeBytes { Key.readU64($0) } } ?? 0
                // The appends' stream heads after the checkpoint (``AppendSummary``), checked against
                // the records of each append as the scan passes them.
                var tailEntries: [(last: UInt64, first: UInt64, deliveries: [UInt32], pairs: [UInt64])] = []
                if let tailStreams = tables.tailStreams {
                    try txn.scan(tailStreams, from: Key.u64(checkpointBefore + 1)) { k, v in
                        if let streams = try? AppendSummary.Streams(v) {
                            tailEntries.append((Key.readU64(k), streams.first, streams.deliveries, streams.pairs.flatMap { [$0.hash, $0.head] }))
                        }
                        return true
                    }
                }
                var tailEntry = 0
                var headsInAppend: [UInt32: UInt64] = [:]
                var touchedInTail: [(last: UInt64, delivery: UInt32)] = []
                try txn.scan(tables.log) { k, v in
                    let position = Key.readU64(k)
                    if position != expected { report(expected, "the log has a gap: the next record is at position \(position)") }
                    expected = position + 1
                    try chainCheck.check(position: position, record: v, txn, tables.hashes, report)
                    // The raw-bytes reference first (without decompressing), so that a replaced
                    // dictionary is named by its digest, not as records that do not decompress; the
                    // record is then decoded with its raw bytes, which the fold's qualification reads.
                    let reference = (try? RecordCodec.decode(v, raw: .skip))?.rawReference
                    if let reference, reference.dictionary != 0 {
                        let id = reference.dictionary
                        if let digest = reference.digest {
                            if introduced.contains(id) {
                                report(position, "introduces raw-bytes dictionary \(id) again")
                            } else if let d = dictionaries[id], Array(SHA256.hash(data: d.dictionary.bytes)) != digest {
                                report(position, "introduces raw-bytes dictionary \(id), but the dictionary meta holds under that id is another one (its SHA-256 differs)")
                                badDictionaries.insert(id)
                            }
                            introduced.insert(id)
                        } else if !introduced.contains(id) {
                            report(position, "its raw bytes use dictionary \(id), which no earlier record introduces")
                            introduced.insert(id)  // named once
                        }
                    }
                    let decoded: RecordCodec.Decoded
                    do {
                        let skip = reference.map { badDictionaries.contains($0.dictionary) } ?? false
                        decoded = try RecordCodec.decode(v, raw: skip ? .skip : raw)
                    } catch let e as CorruptRecordError {
                        report(position, "the record does not decode: \(e.what)")
                        return true
                    }
                    let stream = decoded.header.stream
                    while tailEntry < tailEntries.count, tailEntries[tailEntry].last < position { tailEntry += 1 }
                    if tailEntry < tailEntries.count, tailEntries[tailEntry].first <= position {
                        headsInAppend[stream] = position
                        let entry = tailEntries[tailEntry]
                        if position == entry.last {
                            var deliveries: Set<UInt32> = []
                            var pairs: [(hash: UInt64, head: UInt64)] = []
                            for (s, head) in headsInAppend {
                                // A stream the streams table lacks is named below; its head cannot be hashed here.
                                guard let info = streamInfos[s] else { continue }
                                deliveries.insert(info.deliveryOrdinal)
                                pairs.append((AppendSummary.streamHash(delivery: info.deliveryOrdinal, recipient: info.recipient), head))
                            }
                            let expected = pairs.sorted { ($0.hash, $0.head) < ($1.hash, $1.head) }.flatMap { [$0.hash, $0.head] }
                            if expected != entry.pairs || deliveries.sorted() != entry.deliveries {
                                report(position, "the tail streams entry of the append \(entry.first)…\(entry.last) differs from its records (the streams' heads, or the deliveries it touched)")
                            }
                            touchedInTail += deliveries.map { (entry.last, $0) }
                            headsInAppend = [:]
                        }
                    }
                    let previous = lastOfStream[stream] ?? 0
                    if decoded.header.previous != previous {
                        report(position, "links to position \(decoded.header.previous) as the previous record of its stream; the log says \(previous)")
                    }
                    lastOfStream[stream] = position
                    countOfStream[stream, default: 0] += 1
                    guard let info = streamInfos[stream] else {
                        // With a tail that did not fold, streams first recorded after the checkpoint
                        // are unknown: their absence is the damage already named, not more of it.
                        if tailProblem == nil || position <= checkpointBefore {
                            report(position, "its stream \(stream) is not in the streams table")
                        }
                        return true
                    }
                    if decoded.definesStream, !decoded.event.recipient.utf8.elementsEqual(info.recipient.utf8) {
                        report(position, "defines recipient '\(decoded.event.recipient)' but the streams table says '\(info.recipient)'")
                    }
                    if decoded.event.kind.isMessageEvent {
                        var e = decoded.event
                        if e.recipient.isEmpty { e.recipient = info.recipient }   // only the stream's first record carries it
                        states[stream, default: MessageState()].apply(Projector.requalified(e, with: options.rules), position: position)
                    }
                    return true
                }
                let last = expected - 1
                try chainCheck.end(last: last, txn, tables.hashes, report)
                let chain = chainCheck.chain
                for (p, what) in indexProblems { report(p, what) }
                // A dictionary no record introduces is not covered by the hash chain: not the ledger's.
                for id in dictionaries.keys.sorted() where !introduced.contains(id) {
                    report(nil, "raw-bytes dictionary \(id) in meta is introduced by no record of the log")
                }
                // The delivery ids: `deliveries` and `deliveryNames` are exact inverses.
                var ordinalOfId: [[UInt8]: UInt32] = [:]
                var idOfOrdinal: [UInt32: [UInt8]] = [:]
                try txn.scan(tables.deliveries) { k, v in
                    let id = Array(k)
                    guard v.count == 4 else {
                        report(nil, "the deliveries table maps delivery '\(Self.text(id))' to \(v.count) bytes (\(Self.hex(v))), not an ordinal")
                        return true
                    }
                    ordinalOfId[id] = Key.readU32(v)
                    return true
                }
                try txn.scan(tables.deliveryNames) { k, v in
                    guard k.count == 4 else {
                        report(nil, "the deliveryNames table has a key of \(k.count) bytes (\(Self.hex(k))), not a delivery ordinal")
                        return true
                    }
                    idOfOrdinal[Key.readU32(k)] = Array(v)
                    return true
                }
                for (id, d) in view.tail.deliveryOrdinals { ordinalOfId[id.bytes] = d }
                for (d, id) in view.tail.deliveryNames { idOfOrdinal[d] = id }
                for (id, d) in ordinalOfId.sorted(by: { $0.value < $1.value }) where idOfOrdinal[d] != id {
                    let name = idOfOrdinal[d].map { "'\(Self.text($0))'" } ?? "no name"
                    report(nil, "delivery '\(Self.text(id))' has ordinal \(d) in the deliveries table, but deliveryNames gives that ordinal \(name)")
                }
                for (d, id) in idOfOrdinal.sorted(by: { $0.key < $1.key }) where ordinalOfId[id] != d {
                    let ordinal = ordinalOfId[id].map { "ordinal \($0)" } ?? "no ordinal"
                    report(nil, "delivery ordinal \(d) is named '\(Self.text(id))' in deliveryNames, but the deliveries table gives that id \(ordinal)")
                }
                for d in Set(streamInfos.values.map(\.deliveryOrdinal)).sorted() where d != 0 && idOfOrdinal[d] == nil {
                    report(nil, "delivery ordinal \(d) is used by a stream but has no name in deliveryNames")
                }
                // The persisted states (``StateBlock``s), by stream ordinal.
                inProjection = true
                var storedStates: [UInt32: [UInt8]] = [:]
                try txn.scan(tables.messageState) { k, v in
                    guard k.count == 4 else {
                        report(nil, "the messageState table has a key of \(k.count) bytes (\(Self.hex(k))), not a block number")
                        return true
                    }
                    let block = Key.readU32(k)
                    guard block <= UInt32.max / StateBlock.width else {
                        report(nil, "the messageState table has block \(block), past the last possible stream ordinal")
                        return true
                    }
                    do {
                        var states = 0
                        try StateBlock.forEach(in: v) { slot, bytes in
                            storedStates[block * StateBlock.width + UInt32(slot)] = Array(bytes)
                            states += 1
                        }
                        if states == 0 { report(nil, "the messageState block \(block) is stored empty (an empty block is removed)") }
                    } catch {
                        report(nil, "the messageState block \(block) does not decode: \(error)")
                    }
                    return true
                }
                for (ordinal, state) in view.tail.states { storedStates[ordinal] = StateCodec.encode(state) }
                var counters: [UInt32: DeliveryCounters] = [:]
                for (ordinal, info) in streamInfos.sorted(by: { $0.key < $1.key }) {
                    inProjection = false   // the streams table and the message index are the log's indexes
                    guard countOfStream[ordinal] != nil else {
                        report(nil, "stream \(ordinal) ('\(info.recipient)') is in the streams table but has no record in the log")
                        continue
                    }
                    if info.head != (lastOfStream[ordinal] ?? 0) || info.count != (countOfStream[ordinal] ?? 0) {
                        report(lastOfStream[ordinal], "stream \(ordinal) ('\(info.recipient)'): head \(info.head) and count \(info.count) differ from the log's \(lastOfStream[ordinal] ?? 0) and \(countOfStream[ordinal] ?? 0)")
                    }
                    if try view.streamOrdinal(delivery: info.deliveryOrdinal, recipient: info.recipient, txn) != ordinal {
                        report(lastOfStream[ordinal], "stream \(ordinal) ('\(info.recipient)') is not found through the message index")
                    }
                    guard let state = states[ordinal] else { continue }
                    var c = counters[info.deliveryOrdinal] ?? DeliveryCounters()
                    c.messages += 1
                    c.add(state.summary, sign: 1)
                    counters[info.deliveryOrdinal] = c
                    inProjection = true
                    if storedStates[ordinal] != StateCodec.encode(state) {
                        report(lastOfStream[ordinal], "the persisted status of '\(info.recipient)' differs from a fold of its events")
                    }
                }
                inProjection = true
                for ordinal in storedStates.keys.sorted() where states[ordinal] == nil {
                    report(nil, "the messageState table has a status for stream \(ordinal), which has no message event in the log")
                }
                // The valid-time projection: per delivery, the steps and the minute checkpoints
                // each add up to the counters (every message's step function ends at its state).
                var stepSums: [UInt32: DeliveryCounters] = [:]
                var bucketSums: [UInt32: DeliveryCounters] = [:]
                // An entry that does not decode is the projection's (`ledger reproject` rebuilds it),
                // named with its table and key — not LMDB's structure, which the page walk checked.
                for (table, name, what) in [(tables.validSteps, "validSteps", "valid-time step"), (tables.validBuckets, "validBuckets", "minute checkpoint")] {
                    try txn.scan(table) { k, v in
                        guard k.count >= 4 else {
                            report(nil, "the \(name) table has a key of \(k.count) bytes (\(Self.hex(k)))")
                            return true
                        }
                        do {
                            let vector = try ValidTime.Vector(bytes: v)
                            if name == "validSteps" {
                                vector.apply(to: &stepSums[Key.readU32(k), default: DeliveryCounters()])
                            } else {
                                vector.apply(to: &bucketSums[Key.readU32(k), default: DeliveryCounters()])
                            }
                        } catch let e as CorruptRecordError {
                            report(nil, "the \(what) of delivery ordinal \(Key.readU32(k)) at key \(Self.hex(k)) in table \(name) does not decode: \(e.what)")
                        }
                        return true
                    }
                }
                for (d, steps) in view.tail.steps { for s in steps { s.change.apply(to: &stepSums[d, default: DeliveryCounters()]) } }
                for (d, minutes) in view.tail.buckets { for v in minutes.values { v.apply(to: &bucketSums[d, default: DeliveryCounters()]) } }
                for d in Set(counters.keys).union(stepSums.keys).union(bucketSums.keys).sorted() {
                    let expected = counters[d] ?? DeliveryCounters()
                    if (stepSums[d] ?? DeliveryCounters()) != expected {
                        report(nil, "the valid-time steps of delivery ordinal \(d) do not add up to a fold of the log")
                    }
                    if (bucketSums[d] ?? DeliveryCounters()) != expected {
                        report(nil, "the valid-time minute checkpoints of delivery ordinal \(d) do not add up to a fold of the log")
                    }
                }
                // The appends' summaries (``AppendSummary``): each delivery's current counters and
                // declared count are the fold's; the tail's entries are of appends after the checkpoint.
                if let currentCounters = tables.currentCounters {
                    var entries: [(name: [UInt8], value: [UInt8])] = []
                    try txn.scan(currentCounters) { k, v in
                        entries.append((Array(k), Array(v)))
                        return true
                    }
                    for (name, value) in entries {
                        let id = Self.text(name)
                        do {
                            let entry = try value.withUnsafeBytes { b throws(CorruptRecordError) in try AppendSummary.DeliveryEntry(bytes: b) }
                            if try view.deliveryOrdinal(name, txn) != entry.ordinal {
                                report(entry.position, "the current counters of delivery '\(id)' name ordinal \(entry.ordinal), not the delivery's")
                            } else if entry.counters != (counters[entry.ordinal] ?? DeliveryCounters()) {
                                report(entry.position, "the current counters of delivery '\(id)' differ from a fold of the log")
                            } else if try declaration(delivery: id, txn, view).toDeliver != entry.toDeliver {
                                report(entry.position, "the current counters of delivery '\(id)' give another declared recipient count than its declarations")
                            }
                        } catch let e as CorruptRecordError {
                            report(nil, "the current counters of delivery '\(id)' do not decode: \(e.what)")
                        } catch {
                            // A damaged declaration record: the checks of the log above name it.
                        }
                    }
                }
                if let currentCounters = tables.currentCounters {
                    var named: Set<UInt32> = []
                    for (last, d) in touchedInTail where d != 0 && !named.contains(d) {
                        named.insert(d)
                        guard let name = try view.deliveryName(d, txn) else { continue }
                        if try txn.withValue(currentCounters, key: Array(name.utf8), { _ in true }) == nil {
                            report(last, "delivery '\(name)' was touched by the append ending at \(last) but has no current counters")
                        }
                    }
                }
                if let tailStreams = tables.tailStreams {
                    let checkpoint = try txn.get(tables.meta, key: Tables.checkpointKey).map { $0.withUnsafeBytes { Key.readU64($0) } } ?? 0
                    try txn.scan(tailStreams) { k, v in
                        let key = Key.readU64(k)
                        if key <= checkpoint || key > last {
                            report(key, "a tail streams entry is kept for append \(key), outside the tail \(checkpoint + 1)…\(last)")
                        } else if (try? AppendSummary.Streams(v)) == nil {
                            report(key, "the tail streams entry of the append ending at \(key) does not decode")
                        }
                        return true
                    }
                }
                var storedCounters: [UInt32: DeliveryCounters] = [:]
                try txn.scan(tables.deliveryCounters) { k, v in
                    do {
                        storedCounters[Key.readU32(k)] = try DeliveryCounters(bytes: v)
                    } catch let e as CorruptRecordError {
                        report(nil, "the persisted KPI counters of delivery ordinal \(Key.readU32(k)) do not decode: \(e.what)")
                        storedCounters[Key.readU32(k)] = counters[Key.readU32(k)] ?? DeliveryCounters()  // named once
                    }
                    return true
                }
                for (d, c) in view.tail.counters { storedCounters[d] = c }
                for (d, stored) in storedCounters.sorted(by: { $0.key < $1.key }) {
                    if stored != (counters[d] ?? DeliveryCounters()) {
                        report(nil, "the persisted KPI counters of delivery ordinal \(d) differ from a fold of the log")
                    }
                    counters[d] = nil
                }
                for d in counters.keys.sorted() { report(nil, "delivery ordinal \(d) has messages but no persisted KPI counters") }
                let checkpoint = try txn.get(tables.meta, key: Tables.checkpointKey).map { $0.withUnsafeBytes { Key.readU64($0) } } ?? 0
                if checkpoint > last { report(nil, "the projection checkpoint is \(checkpoint), past the end of the log at \(last)") }
                // The duplicate receipts (``DuplicateReceipts``: not in the log, not rebuilt): each
                // names a recorded event of its delivery, received again at least once, no earlier
                // than it was recorded.
                inProjection = false
                try DuplicateReceipts.scanAll(txn, tables.duplicates) { delivery, key, entry in
                    let summaries: [DuplicateReceipts.Summary]
                    switch entry {
                    case .failure(let e):
                        report(nil, "the duplicates entry of delivery ordinal \(delivery) at position \(key) does not decode: \(e.what)")
                        return
                    case .success(let s): summaries = s
                    }
                    for r in summaries {
                        let named = "the duplicates entry of delivery ordinal \(delivery) for position \(r.original)"
                        guard (1...max(last, 1)).contains(r.original), last > 0 else {
                            report(nil, "\(named) names a position outside the log 1…\(last)")
                            return
                        }
                        guard let (stream, recordedAt) = try txn.withValue(tables.log, key: Key.u64(r.original), { b in
                            (try? RecordCodec.foldView(b)).map { ($0.stream, $0.recordedAt) }
                        }) ?? nil else { continue }  // a record that does not read: named by the log's checks
                        if let problem = DuplicateReceipts.problem(r, delivery: delivery, recordDelivery: streamInfos[stream]?.deliveryOrdinal,
                                                                   recordedAt: recordedAt, now: options.clock()) {
                            report(r.original, problem.hasPrefix("the event") ? "\(named): \(problem)" : "\(named) \(problem)")
                        }
                    }
                }
                if case .corrupt(let p, let what)? = tailProblem {
                    report(p, "the records after the projection checkpoint do not fold: \(what)")
                } else if let tailProblem {
                    report(nil, "the records after the projection checkpoint do not fold: \(tailProblem)")
                } else if view.tail.last != last {
                    report(nil, "the projection's tail ends at \(view.tail.last), the log at \(last)")
                }
                return VerifyReport(records: last, head: HashChain.hex(chain), problems: problems)
            }
        }
    }
}

extension Ledger {
    /// Bytes as hex, for a problem report (at most 32 bytes shown).
    fileprivate static func hex(_ b: UnsafeRawBufferPointer) -> String {
        let digits = Array("0123456789abcdef")
        return String(b.prefix(32).flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0x0f)]] }) + (b.count > 32 ? "…" : "")
    }

    /// A delivery id for a problem report: its UTF-8 text, invalid sequences replaced.
    fileprivate static func text(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }
}

/// The hash chain's check in ``Ledger/verify(maximumProblems:)`` (``HashChain``): the entry covering
/// each record, its digest, and at the entry's last record the entry's head. After a mismatch the
/// checks go on from the stored values, to find further, independent changes.
struct ChainCheck {
    /// The head after the records checked so far.
    private(set) var chain = HashChain.genesis
    private var entry: HashChain.Entry?
    private var link: HashChain.Link?
    private var entryHasBadRecord = false
    /// An entry was missing: the next entry's head cannot be checked (its previous head is unknown).
    private var previousUnknown = false

    private mutating func closeEntry(_ report: (UInt64?, String) -> Void) {
        guard let e = entry else { return }
        if let l = link, !entryHasBadRecord, !previousUnknown, l.finish(last: e.last) != e.head {
            report(e.first, "the hash-chain entry of positions \(e.first)–\(e.last) does not match their records (an entry or a digest was rewritten)")
        }
        chain = e.head
        previousUnknown = false
        entry = nil
        link = nil
        entryHasBadRecord = false
    }

    /// Checks the record at `position` (records in position order).
    mutating func check(position: UInt64, record: UnsafeRawBufferPointer, _ txn: borrowing Transaction, _ hashes: Database,
                        _ report: (UInt64?, String) -> Void) throws {
        if let e = entry, position > e.last { closeEntry(report) }
        if entry == nil {
            var found: HashChain.Entry?
            var malformed: (key: UInt64, bytes: Int)?
            try txn.scan(hashes, from: Key.u64(position)) { k, value in
                found = HashChain.Entry(key: k, value: value)
                if found == nil { malformed = (Key.readU64(k), value.count) }
                return false
            }
            if let m = malformed {
                report(position, "the hash-chain entry under position \(m.key) has \(m.bytes) bytes, not 32 and 8 per record")
            } else if let f = found, f.first == position {
                entry = f
                if f.digests != nil { link = HashChain.Link(previous: chain, first: position) }
            } else if let f = found, f.first < position {
                report(position, "the hash-chain entry of positions \(f.first)–\(f.last) overlaps the previous one")
            } else {
                report(position, "no hash-chain entry")
            }
            if entry == nil {
                chain = HashChain.next(chain, position: position, record: record)
                previousUnknown = true
                return
            }
        }
        let e = entry!
        if let digests = e.digests {
            // A damaged page can give the log's keys out of order: a position outside the entry is
            // named, never used as an index.
            guard position >= e.first, position - e.first < UInt64(digests.count) else {
                report(position, "the log's keys are out of order here (position \(position) within the hash-chain entry of \(e.first)–\(e.last))")
                entry = nil
                link = nil
                previousUnknown = true
                return
            }
            let d = link!.add(position: position, record: record)
            if d != digests[Int(position - e.first)] {
                report(position, "the record's bytes differ from those appended (hash chain mismatch)")
                entryHasBadRecord = true
            }
            if position == e.last { closeEntry(report) }
        } else {
            if !previousUnknown, HashChain.next(chain, position: position, record: record) != e.head {
                report(position, "the record's bytes differ from those appended (hash chain mismatch)")
            }
            chain = e.head
            previousUnknown = false
            entry = nil
        }
    }

    /// After the last record (`last`): an entry left open, entries past the end of the log.
    mutating func end(last: UInt64, _ txn: borrowing Transaction, _ hashes: Database, _ report: (UInt64?, String) -> Void) throws {
        if let e = entry {
            report(e.first, "the hash-chain entry of positions \(e.first)–\(e.last) covers records past the end of the log")
            entry = nil
        }
        if let lastEntry = try txn.last(hashes) {
            let key = lastEntry.key.withUnsafeBytes { Key.readU64($0) }
            if key > last { report(nil, "the hash chain has an entry under position \(key), past the end of the log at \(last)") }
        } else if last > 0 {
            report(nil, "the hash chain has no entries for \(last) records")
        }
    }
}
