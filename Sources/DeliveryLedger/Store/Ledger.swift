import Dispatch
import LMDBKit
import Synchronization
import Logging
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Options for opening a ``Ledger``.
public struct LedgerOptions: Sendable {
    /// What a map fault report names as the damaged data file (``Ledger/reportMapFaults()``): the
    /// ledger's own `data.mdb` when `nil`. A backup's copy, checked before it is kept, names its
    /// source: the damage it holds is the source's.
    var faultReportName: String? = nil
    /// When true (default), every append commits with one fsync: an appended batch survives a
    /// power loss. When false, commits are not synced (tests, throw-away demos).
    public var durable: Bool = true
    /// Initial LMDB map size in bytes; it grows automatically (doubling) when full.
    public var initialMapSize: Int = 256 << 20
    /// Whether opening creates the database when the directory does not exist (default true).
    /// Read-only tools set it to false so that a mistyped path is an error, not an empty ledger.
    /// Only a path that does not exist is ever made a ledger: an existing directory without a
    /// ledger's data file (or with an empty one) is an error, never a new ledger.
    public var createIfMissing: Bool = true
    /// Open for reading only (default false): the LMDB environment is opened read-only
    /// (`MDB_RDONLY`), its tables in a read transaction; no write transaction is ever begun, so
    /// the ledger's files may be read-only and a writer in another process never makes it wait.
    /// Appends and re-projections then throw. A projection that needs rebuilding (its layout or
    /// rule table changed) is an error naming `ledger reproject`, which needs write access.
    public var readOnly: Bool = false
    /// The clock that stamps `recordedAt` (transaction time). Injected for tests.
    public var clock: @Sendable () -> Instant = Ledger.systemClock
    /// The qualification rule table the projection uses for text-qualified failures (DSN, Postfix,
    /// raw SMTP replies). Opening a ledger with a table of another version than the one its
    /// projection was built with rebuilds the projection from the log (domain.md §5.3).
    public var rules: TextQualifier = .builtIn
    /// Checkpoint policy (count): after an append, the tail (records after the last checkpoint,
    /// folded in memory) is written to the projection tables once it holds at least this many
    /// records. Larger = fewer, larger checkpoints (faster ingest); smaller = less for a reader in
    /// another process to fold. See ``Ledger/checkpoint()``.
    public var checkpointRecords: UInt64 = 250_000
    /// Checkpoint policy (age): after an append, the tail is written once its first record was
    /// folded at least this many seconds ago (monotonic clock), however few records it holds.
    public var checkpointSeconds: Double = 10
    /// Checkpoints by policy run on a thread of their own (default false: in the append that makes
    /// one due). The tail is taken as it is, its writes sorted and encoded while appends go on, and
    /// only the B-tree work runs in a write transaction (which excludes appends); meanwhile each
    /// append is merged into the tail and into the tail that will follow the checkpoint, which
    /// replaces it when the checkpoint commits. One at a time; a failure loses nothing (the log is
    /// the truth) and is logged (``logger``), and the next append that finds one due starts another.
    /// `ledger serve` sets it: an append no longer waits for a whole checkpoint, and the checkpoint's
    /// preparation uses the other core.
    public var checkpointsInBackground: Bool = false
    /// How many raw documents of one source (``SourceFormat``: SparkPost elements, Postfix lines, DSN
    /// emails…) an instance appends before it trains that source's zstd dictionary on them and
    /// compresses the raw bytes of the records after with it (``Event/raw`` gives back the exact
    /// bytes whatever the encoding). Default 1,000 (zstd advises samples ≈ 100× the 16 KiB
    /// dictionary: 1,000 webhook elements of ~650 bytes); at least 8. Before a dictionary exists,
    /// documents of 1 KiB or more are compressed without one.
    public var rawDictionaryTrainingSamples: Int = 1000
    /// Where the ledger logs (map growth, projection rebuilds). Defaults to no logging.
    public var logger: Logger = Logger(label: "DeliveryLedger", factory: { _ in SwiftLogNoOpLogHandler() })

    /// The defaults: durable, 256 MiB initial map, system clock, no logging.
    public init() {}
}

/// A batch made ready to append by ``Ledger/prepare(_:)``: its events, validated, with their raw
/// bytes compressed. Appended by ``Ledger/append(_:)-(PreparedBatch)`` or in a group
/// (``Ledger/append(group:)-(PreparedBatch)``) of the ledger that prepared it.
public struct PreparedBatch: Sendable {
    /// The events, as given to ``Ledger/prepare(_:)``.
    public let events: [Event]
    /// Per event, its raw bytes compressed; `nil` when the batch is invalid.
    let raws: [PrecompressedRaw?]?
    /// The ``RawDictionaries/instance`` that compressed them (0: none): appended to another
    /// ledger, the batch's raw bytes are compressed again with that ledger's dictionaries.
    var preparedBy: UInt64 = 0
    /// Why the batch cannot be appended (its first invalid event), thrown by its append.
    let invalid: LedgerError?
}

/// What an append did.
public struct AppendResult: Sendable, Hashable {
    /// Per input event, in input order: the position it was appended at, or the position of the
    /// identical event already recorded (``duplicates`` tells which).
    public var positions: [UInt64]
    /// Indexes (into the input batch) of the events that were already recorded: no-ops.
    public var duplicates: [Int]
    /// How many events were appended.
    public var appended: Int { positions.count - duplicates.count }
    /// The log position after the append (the last position), 0 for an empty ledger.
    public var lastPosition: UInt64
}

/// What a query's answer is based on: how much of the log it saw (Datomic's basis-t).
public struct Basis: Sendable, Hashable, Codable {
    /// The last log position included (0 for an empty ledger).
    public var position: UInt64
    /// The transaction time of that position (UTC), `nil` for an empty ledger.
    public var recordedAt: Instant?
    /// The version of the qualification rule table the projection used.
    public var rules: String
    /// The valid-time bound of the answer (events with `occurredAt ≤ asOf`), `nil` when unbounded.
    public var asOf: Instant? = nil
    /// The transaction-time bound asked for (`recordedAt ≤ knownAt`), `nil` when unbounded;
    /// ``position`` and ``recordedAt`` are then the last event known at that instant.
    public var knownAt: Instant? = nil
}

/// A recipient's status in one delivery under both semantics, with the events behind it.
public struct MessageStatusReport: Sendable, Hashable {
    /// The delivery id.
    public var delivery: String
    /// The normalised recipient address.
    public var recipient: String
    /// The status under the classic semantics.
    public var classic: MessageStatusView
    /// The status under the EFS semantics.
    public var efs: MessageStatusView
    /// The message's events in log order, as the projection sees them (``Ledger/asProjected(_:)``: a
    /// failure qualified by the text rules carries the qualification of the ledger's rule table,
    /// the one the status was folded with, not the one it was recorded with).
    public var events: [RecordedEvent]
    /// How much of the log the answer saw.
    public var basis: Basis

    /// The view under `semantics`.
    public func view(_ semantics: Semantics) -> MessageStatusView { semantics == .classic ? classic : efs }
}

/// What a delivery's `delivery` events declared (latest value of each field, domain.md §1–2).
public struct DeliveryDeclaration: Sendable, Hashable {
    /// Recipients targeted after exclusions, if declared.
    public var toDeliver: Int64?
    /// The validity period configured on the platform, in seconds, if declared.
    public var validitySeconds: Int64?
    /// A human label, if declared.
    public var label: String?
}

/// The delivery ledger: an append-only log of delivery-feedback events in LMDB, with the
/// per-message and per-delivery projections kept up to date in the same transactions.
///
/// Open one `Ledger` per database path per process and share it: all methods are safe to call
/// from concurrent tasks. Methods are synchronous and short (a batch append, a few B-tree reads);
/// call large appends from a context that may block.
///
/// ```swift
/// let ledger = try Ledger(path: "/var/lib/ledger.lmdb")
/// try ledger.append([Event(id: "r1", kind: .relay, delivery: "d1", recipient: "a@example.com",
///                          occurredAt: Instant(secondsSinceEpoch: 1_764_000_000))])
/// let kpis = try ledger.kpis(delivery: "d1", semantics: .efs)
/// ```
public final class Ledger: Sendable {
    let environment: Environment
    let tables: Tables
    let options: LedgerOptions
    /// The database directory.
    public let path: String
    private let openingRebuild = Mutex<ProjectionInfo?>(nil)
    /// The log's tail after the persisted checkpoint, folded in memory (``Tail``): shared by this
    /// instance's readers and its appends; `nil` until first needed.
    private let sharedTail = Mutex<SharedTail>(SharedTail())

    /// The shared tail, and — while a background checkpoint of a tail ending at position L is in
    /// flight — the tail after L, kept current by the same merges (``LedgerOptions/checkpointsInBackground``).
    private struct SharedTail {
        var current: Tail?
        var next: Tail?
    }

    /// Set while a background checkpoint runs, on its queue.
    private let backgroundCheckpoint = Atomic<Bool>(false)
    private let checkpointQueue = DispatchQueue(label: "DeliveryLedger.checkpoint")

    /// Whether this instance holds a folded tail (it appended, or a reader of it folded): its
    /// point queries then read the tail's maps, O(1), rather than the appends' summaries, whose
    /// lookups grow with the number of appends since the checkpoint.
    var holdsTail: Bool { sharedTail.withLock { $0.current != nil } }
    /// The dictionaries of the records' raw bytes, loaded as needed (``RawEncoding``).
    let rawDictionaries: RawDictionaries
    /// `options.rules.tableDigest`'s UTF-8 bytes, compared with the persisted projection's.
    let rulesDigestBytes: [UInt8]

    /// The re-projection this instance did when it opened (a new ledger's first build, or the
    /// projection layout, the rule table or the checkpoint differed from the log), or `nil` when
    /// the projection was current.
    public var rebuiltOnOpen: ProjectionInfo? { openingRebuild.withLock { $0 } }

    /// The system clock, UTC, millisecond precision.
    public static let systemClock: @Sendable () -> Instant = {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Instant(millisecondsSinceEpoch: Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000)
    }

    /// Opens the ledger in directory `path`, creating the directory and the database on first use.
    /// Brings the persisted projection up to date with the log (a no-op normally; a rebuild after
    /// a projection layout change).
    /// - Throws: ``LedgerError/cannotOpen(path:reason:)``, ``LedgerError/storage(_:)``,
    ///   ``LedgerError/corrupt(position:what:)``.
    public init(path: String, options: LedgerOptions = LedgerOptions()) throws(LedgerError) {
        self.path = path
        self.options = options
        self.rulesDigestBytes = Array(options.rules.tableDigest.utf8)
        self.rawDictionaries = RawDictionaries(trainingSamples: options.rawDictionaryTrainingSamples)
        (environment, tables) = try Self.openStorage(path: path, options: options)
        try checkFormat()
        if options.readOnly {
            try requireCurrentProjection()
        } else if let info = try catchUpProjection() {
            openingRebuild.withLock { $0 = info }
        }
    }

    /// The ledger marker: the format version in `meta`, written when the ledger is created (in
    /// the same transaction as its tables). Read only: a ledger without it is an error.
    private func checkFormat() throws(LedgerError) {
        let version: UInt64 = try run {
            try environment.read { txn in
                guard let v = try txn.get(tables.meta, key: Tables.formatVersionKey), v.count == 8 else {
                    throw LedgerError.damaged(path: path, what: "its meta table has no format marker (not a ledger, or damaged)")
                }
                return v.withUnsafeBytes { Key.readU64($0) }
            }
        }
        guard (2...Tables.formatVersion).contains(version) else {
            throw .cannotOpen(path: path, reason: "format version \(version); this build reads version \(Tables.formatVersion)")
        }
        // Version 2 kept the projection current in every append (no tail): it reads as a ledger
        // whose tail is empty; version 3 has a hash-chain entry per record, read as appends of one
        // record (``HashChain``); version 4's records keep their raw bytes uncompressed (record
        // format 1, ``RecordCodec``). A writer marks any of them 5 so that older builds refuse it; a
        // read-only open reads it as it is.
        if version < Tables.formatVersion && !options.readOnly {
            try run {
                try environment.write { txn in try txn.put(tables.meta, key: Tables.formatVersionKey, value: Key.u64(Tables.formatVersion)) }
            }
        }
    }

    /// Maps any thrown error into ``LedgerError``.
    func run<R>(_ body: () throws -> R) throws(LedgerError) -> R {
        // Damage found while reading is named with the ledger's path (``LedgerError/damaged(path:what:)``).
        do {
            return try body()
        } catch let LedgerError.corrupt(position, what) {
            throw .damaged(path: path, what: (position.map { "at log position \($0): " } ?? "") + what)
        } catch let e as LedgerError {
            throw e
        } catch let e as LMDBError {
            throw storageError(e)
        } catch let e as CorruptRecordError {
            throw .damaged(path: path, what: e.what)
        } catch {
            throw .damaged(path: path, what: "\(error)")
        }
    }

    // MARK: Appending

    /// Appends a batch of events atomically: all of them or none.
    ///
    /// Each event gets the next gap-free global position and `recordedAt` = the clock's time, never
    /// earlier than the previous record's (transaction time is non-decreasing with position). An
    /// event whose id its stream already holds with the same content is a no-op reporting the
    /// original position (also within the batch). The projection and its checkpoint are updated in
    /// the same transaction; one fsync per batch when durable.
    ///
    /// - Returns: the positions, in input order, and which events were duplicates.
    /// - Throws: ``LedgerError/invalidEvent(index:eventId:_:)`` (``Event/validate()`` failed),
    ///   ``LedgerError/conflict(index:eventId:stream:recordedPosition:)``, ``LedgerError/storage(_:)``.
    ///   Nothing is appended when it throws.
    @discardableResult
    public func append(_ events: [Event]) throws(LedgerError) -> AppendResult {
        if let invalid = Self.firstInvalid(events) { throw invalid }
        return try append(events, precompressed: nil)
    }

    /// Appends a batch made ready by ``prepare(_:)``: the same as ``append(_:)`` of its events, with
    /// their validation and the compression of their raw bytes already done.
    /// - Throws: as ``append(_:)``.
    @discardableResult
    public func append(_ batch: PreparedBatch) throws(LedgerError) -> AppendResult {
        if let invalid = batch.invalid { throw invalid }
        return try append(batch.events, precompressed: precompressed(batch))
    }

    /// Makes `events` ready to append, on the caller's thread and outside any transaction: validates
    /// them (``Event/validate()``) and compresses their raw bytes with the dictionaries this instance
    /// knows (``RawEncoding``). The appends of one ledger run one at a time (LMDB has one writer);
    /// work done here is work its writer does not do. A batch prepared before a dictionary was
    /// trained is appended all the same (its events' raw bytes are compressed again in the append).
    public func prepare(_ events: [Event]) -> PreparedBatch {
        if let invalid = Self.firstInvalid(events) { return PreparedBatch(events: events, raws: nil, invalid: invalid) }
        return PreparedBatch(events: events, raws: events.withUnsafeBufferPointer { rawDictionaries.precompress($0) },
                             preparedBy: rawDictionaries.instance, invalid: nil)
    }

    /// `batch`'s compressed raw bytes when this instance compressed them, else `nil` (compressed
    /// again in the append: another ledger's dictionary ids name other dictionaries).
    func precompressed(_ batch: PreparedBatch) -> [PrecompressedRaw?]? {
        batch.preparedBy == rawDictionaries.instance ? batch.raws : nil
    }

    /// ``LedgerError/invalidEvent(index:eventId:_:)`` for the first event of `events` that is not
    /// valid, or `nil`.
    static func firstInvalid(_ events: [Event]) -> LedgerError? {
        // Through a buffer pointer: its subscript lends an event where an array's copies it.
        events.withUnsafeBufferPointer { events in
            for i in events.indices {
                do throws(EventValidationError) { try events[i].validate() } catch { return .invalidEvent(index: i, eventId: events[i].id, error) }
            }
            return nil
        }
    }

    /// Appends `events`, all valid; `precompressed`, when given, holds each one's raw bytes compressed
    /// by ``RawDictionaries/precompress(_:)``.
    func append(_ events: [Event], precompressed: [PrecompressedRaw?]?) throws(LedgerError) -> AppendResult {
        let startedAt = Self.monotonicSeconds()
        let (result, delta) = try run {
            try environment.write { txn in
                let tail = try currentTail(txn)
                return try events.withUnsafeBufferPointer { events in
                    // The decoder first: a dictionary the compressor trains is not committed yet, and
                    // this process knows only committed ones (``RawDictionaries/compressor(for:_:_:)``).
                    let decoder = try rawDictionaries.decoder(txn, tables.meta)
                    let compressor = try rawDictionaries.compressor(for: events, txn, tables.meta)
                    var batch = try AppendBatch(txn, reader: ProjectionReader(tables: tables, tail: tail), events: events,
                                                now: options.clock(), rules: options.rules, raw: decoder, compressor: compressor)
                    try (precompressed ?? []).withUnsafeBufferPointer { raws in
                        for i in events.indices { try batch.add(index: i, precompressed: raws.isEmpty ? nil : raws[i], txn) }
                    }
                    try batch.finish(txn, startedAt: startedAt)
                    return (batch.result, batch.delta)
                }
            }
        }
        let due = sharedTail.withLock { shared -> Bool in
            // A reader of this instance may have folded these records already (after the commit).
            if shared.current?.last == delta.base { shared.current!.merge(delta) }
            if shared.next?.last == delta.base { shared.next!.merge(delta) }
            guard let t = shared.current, !t.isEmpty else { return false }
            return t.recordCount >= options.checkpointRecords
                || (t.startedAt.map { Self.monotonicSeconds() - $0 >= options.checkpointSeconds } ?? false)
        }
        if due {
            if options.checkpointsInBackground { startBackgroundCheckpoint() } else { try checkpoint() }
        }
        return result
    }

    /// Starts a checkpoint of the shared tail on a thread of its own, unless one runs
    /// (``LedgerOptions/checkpointsInBackground``).
    private func startBackgroundCheckpoint() {
        guard backgroundCheckpoint.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        let taken = sharedTail.withLock { shared -> Tail? in
            guard let t = shared.current, !t.isEmpty else { return nil }
            shared.next = t.emptyDelta  // from now on, every merge goes to both
            return t
        }
        guard let tail = taken else {
            backgroundCheckpoint.store(false, ordering: .releasing)
            return
        }
        // A serial queue of its own: Dispatch gives it a thread (it does not wait for a worker of
        // the shared pool), and the queue holds this instance until the checkpoint ends. The tail
        // is handed over in a box and let go once prepared: while the checkpoint holds it, each
        // merge into the shared tail copies the trie nodes it changes instead of changing them in place.
        let handoff = TailHandoff(tail)
        let (base, last) = (tail.base, tail.last)
        checkpointQueue.async { [self] in
            defer { backgroundCheckpoint.store(false, ordering: .releasing) }
            do {
                try checkpoint(Self.prepare(handoff), base: base, last: last)
            } catch {
                options.logger.warning("background checkpoint failed; the next one is taken by policy", metadata: ["error": "\(error)"])
            }
        }
    }

    /// The checkpoint of the tail in `handoff`, which is emptied (the tail released on return).
    private static func prepare(_ handoff: TailHandoff) -> PreparedCheckpoint {
        let tail = handoff.tail.withLock { box -> Tail in
            let t = box!
            box = nil
            return t
        }
        return tail.prepared()
    }

    /// A tail handed to the checkpoint's queue, to be taken out once.
    private final class TailHandoff: Sendable {
        let tail: Mutex<Tail?>
        init(_ tail: Tail) { self.tail = Mutex(tail) }
    }

    /// Writes `prepared`, the checkpoint of the shared tail's records `base`+1…`last` (taken by
    /// ``startBackgroundCheckpoint()``), then makes the tail after it the shared one. Does nothing
    /// when the persisted checkpoint is no longer `base` (another checkpoint, a re-projection,
    /// another process, came first).
    private func checkpoint(_ prepared: PreparedCheckpoint, base: UInt64, last: UInt64) throws(LedgerError) {
        var written = false
        defer {
            let retired = sharedTail.withLock { shared -> Tail? in
                guard let next = shared.next, next.base == last else { return nil }
                shared.next = nil
                guard written, let old = shared.current, old.base == base else { return nil }
                shared.current = next
                return old
            }
            Self.release(retired)  // outside the lock: the old tail's nodes are many
        }
        written = try run {
            try environment.write { txn -> Bool in
                try checkRules(txn)
                let checkpoint = try txn.get(tables.meta, key: Tables.checkpointKey).map { $0.withUnsafeBytes { Key.readU64($0) } } ?? 0
                guard checkpoint == base else { return false }
                try prepared.write(txn, tables, rules: options.rules)
                return true
            }
        }
    }

    // MARK: The tail and checkpoints

    /// Writes the tail (every record after the last checkpoint, folded in memory) to the projection
    /// tables, in key order, with the position it covers, in one write transaction. Appends do it
    /// by policy (``LedgerOptions/checkpointRecords``, ``LedgerOptions/checkpointSeconds``); call
    /// it before a process that appended ends, so that the next reader has nothing to fold. A crash
    /// before a checkpoint loses nothing: the log is the truth, and the records after the
    /// checkpoint are folded again by whoever opens the ledger next.
    /// - Returns: the checkpoint's position (the last position of the log).
    /// - Throws: ``LedgerError/storage(_:)``, ``LedgerError/corrupt(position:what:)``.
    @discardableResult
    public func checkpoint() throws(LedgerError) -> UInt64 {
        let written = try run {
            try environment.write { txn -> Tail in
                let tail = try currentTail(txn)
                if !tail.isEmpty { try tail.write(txn, tables, rules: options.rules) }
                return tail
            }
        }
        let retired = sharedTail.withLock { shared -> Tail? in
            let old = shared.current
            if let t = shared.current, t.base == written.base, t.last == written.last {
                shared.current = Tail(base: written.last, nextDelivery: written.nextDelivery, nextStream: written.nextStream)
            } else if let t = shared.current, t.base == written.base {
                shared.current = nil  // folded past the checkpoint by a reader meanwhile: fold again when needed
            }
            shared.next = nil  // a background checkpoint in flight finds another checkpoint and writes nothing
            return old
        }
        Self.release(written, retired)
        return written.last
    }

    /// The tail of `txn`'s snapshot: the shared one, brought up to the snapshot's last position by
    /// folding the records it lacks (appended by another process, or by this one before a crash);
    /// a new one when the snapshot's checkpoint is not the shared tail's. Throws
    /// ``TailAhead`` when the shared tail is ahead of the snapshot (a commit or a checkpoint
    /// between the snapshot and now): the caller takes a newer snapshot.
    func currentTail(_ txn: borrowing Transaction, checkRules: Bool = true) throws -> Tail {
        // The persisted projection must be of this instance's rule table: another process may have
        // re-projected it with another one since this one opened (``LedgerError/rulesChanged``).
        if checkRules { try self.checkRules(txn) }
        let checkpoint = try txn.get(tables.meta, key: Tables.checkpointKey).map { $0.withUnsafeBytes { Key.readU64($0) } } ?? 0
        let last = try txn.last(tables.log).map { $0.key.withUnsafeBytes { Key.readU64($0) } } ?? 0
        guard last >= checkpoint else {
            throw LedgerError.corrupt(position: last, what: "the projection checkpoint (\(checkpoint)) is past the end of the log")
        }
        var retired: Tail?
        defer { Self.release(retired) }  // outside the lock
        return try sharedTail.withLock { shared throws -> Tail in
            if let next = shared.next, next.base == checkpoint, shared.current.map({ $0.base < checkpoint }) ?? true {
                // A background checkpoint committed: the tail after it takes over.
                retired = shared.current
                shared.current = next
                shared.next = nil
            }
            if let t = shared.current, t.base == checkpoint {
                if t.last == last { return t }
                if t.last > last { throw TailAhead() }
            } else if let t = shared.current, t.base > checkpoint {
                throw TailAhead()
            } else {
                shared.current = try Tail(txn, tables)
            }
            var fold = AppendBatch(folding: ProjectionReader(tables: tables, tail: shared.current!), rules: options.rules,
                                   raw: try rawDictionaries.decoder(txn, tables.meta))
            try txn.scan(tables.log, from: Key.u64(shared.current!.last + 1)) { k, v in
                let position = Key.readU64(k)
                guard position <= last else { return false }
                try fold.fold(position: position, record: v, txn)
                return true
            }
            try fold.finish(txn, startedAt: Self.monotonicSeconds())
            guard fold.delta.last == last else {
                throw LedgerError.corrupt(position: fold.delta.last + 1, what: "the log has a gap")
            }
            shared.current!.merge(fold.delta)
            if shared.next?.last == fold.delta.base { shared.next!.merge(fold.delta) }
            return shared.current!
        }
    }

    /// Throws ``LedgerError/rulesChanged(path:persisted:own:)`` when the persisted projection of
    /// `txn`'s snapshot was built with another rule table than this instance's.
    func checkRules(_ txn: borrowing Transaction) throws {
        if let same = try txn.withValue(tables.meta, key: Tables.rulesDigestKey, { $0.elementsEqual(rulesDigestBytes) }), !same {
            let persisted = try txn.get(tables.meta, key: Tables.rulesKey).map { String(decoding: $0, as: UTF8.self) } ?? "?"
            throw LedgerError.rulesChanged(path: path, persisted: persisted, own: options.rules.table.version)
        }
    }

    /// Thrown by ``currentTail(_:)`` when the shared tail is ahead of a snapshot.
    struct TailAhead: Error {}

    /// Runs `body` in a read transaction with the projection as its snapshot sees it (persisted
    /// tables + tail). Never waits for a writer: LMDB readers do not, and the tail is folded by the
    /// reader when the writer is in another process.
    /// With `tailFailure`, a tail that cannot be folded (a damaged record after the checkpoint) is
    /// reported to it and the persisted projection alone is read (``verify(maximumProblems:)``).
    func withView<R>(tailFailure: ((LedgerError) -> Void)? = nil, _ body: (borrowing Transaction, ProjectionReader) throws -> R) throws -> R {
        while true {
            do {
                return try environment.read { txn in
                    let tail: Tail
                    do {
                        tail = try currentTail(txn)
                    } catch let error as LedgerError where tailFailure != nil {
                        tailFailure!(error)
                        tail = try Tail(txn, tables)
                    }
                    return try body(txn, ProjectionReader(tables: tables, tail: tail))
                }
            } catch is TailAhead {
                continue  // a commit or checkpoint landed after the snapshot began: take a newer one
            }
        }
    }

    // MARK: Projection maintenance

    /// Brings the persisted projection up to date with the log. Appends keep it current in their
    /// own transaction, so normally there is nothing to do; when the projection layout or the rule
    /// table changed, or the checkpoint is behind the log (a ledger written by another build), the
    /// projection is rebuilt from the whole log into a new generation (``ProjectionRebuild``).
    /// - Returns: the rebuild, or `nil` when the projection was current.
    @discardableResult
    /// - Parameter force: rebuild even when the projection is current (``rebuildProjection()``).
    func catchUpProjection(force: Bool = false) throws(LedgerError) -> ProjectionInfo? {
        let started = Self.monotonicSeconds()
        let info = try run {
            try environment.write { txn -> ProjectionInfo? in
                var generation = try txn.get(tables.meta, key: Tables.generationKey).map { $0.withUnsafeBytes { Key.readU64($0) } } ?? 0
                let layout = try txn.get(tables.meta, key: Tables.layoutKey).map { $0.withUnsafeBytes { Key.readU64($0) } }
                let rulesVersion = try txn.get(tables.meta, key: Tables.rulesKey).map { String(decoding: $0, as: UTF8.self) }
                let last = try txn.last(tables.log).map { $0.key.withUnsafeBytes { Key.readU64($0) } } ?? 0
                let rulesDigest = try txn.get(tables.meta, key: Tables.rulesDigestKey).map { String(decoding: $0, as: UTF8.self) }
                let changed = force || layout != StateCodec.layoutVersion || (rulesVersion != nil && rulesVersion != options.rules.table.version)
                    || (rulesVersion != nil && rulesDigest != options.rules.tableDigest)
                guard changed else { return nil }
                if layout != nil {
                    options.logger.notice("projection layout or rule table differ from the log's projection; rebuilding from the log",
                                          metadata: ["rules": "\(options.rules.table.version)"])
                }
                // The streams and deliveries of the tail first: the rebuild reads them from the tables
                // (the persisted projection may be another table's: it is rebuilt just below).
                let tail = try currentTail(txn, checkRules: false)
                if !tail.isEmpty { try tail.write(txn, tables, rules: options.rules) }
                try txn.clear(tables.messageState)
                try txn.clear(tables.deliveryCounters)
                try txn.clear(tables.validSteps)
                try txn.clear(tables.validBuckets)
                try AppendSummary.clear(txn, tables)
                generation += 1
                try txn.put(tables.meta, key: Tables.layoutKey, value: Key.u64(StateCodec.layoutVersion))
                try txn.put(tables.meta, key: Tables.generationKey, value: Key.u64(generation))
                let validTime = try ProjectionRebuild(tables: tables, rules: options.rules, raw: try rawDictionaries.decoder(txn, tables.meta)).run(txn, last: last)
                return ProjectionInfo(generation: generation, rules: options.rules.table.version, checkpoint: last,
                                      eventsFolded: last, seconds: Self.monotonicSeconds() - started, validTimeSeconds: validTime,
                                      commitSeconds: Self.monotonicSeconds())  // the body's end; made a duration below
            }
        }
        if info != nil { sharedTail.withLock { $0 = SharedTail() } }  // the projection now covers the whole log
        return info.map { i in
            var i = i
            i.commitSeconds = Self.monotonicSeconds() - i.commitSeconds
            return i
        }
    }

    /// Re-projects: rebuilds the persisted projection (per-message states, per-delivery counters,
    /// valid-time steps and checkpoints) from the whole log into a new generation, with the
    /// ledger's rule table (``LedgerOptions/rules``). The new generation is built and switched to in
    /// one write transaction: readers keep a consistent view of the previous generation until it
    /// commits, and nothing in the log changes; a crash before the commit leaves the previous
    /// generation whole. Opening a ledger with a rule table of another
    /// version does the same. Switching the EFS flag needs no re-projection: the projection keeps
    /// the semantics-independent counters both semantics are read from.
    /// - Returns: the new generation, and how many events were folded in how many seconds.
    @discardableResult
    public func rebuildProjection() throws(LedgerError) -> ProjectionInfo {
        let started = Self.monotonicSeconds()
        guard var info = try catchUpProjection(force: true) else {
            throw .corrupt(position: nil, what: "the projection was not rebuilt after its layout was reset")
        }
        info.seconds = Self.monotonicSeconds() - started  // the commit (and its fsync) included
        return info
    }

    /// The persisted projection's generation, rule table and checkpoint.
    public func projectionInfo() throws(LedgerError) -> ProjectionInfo {
        try run {
            try environment.read { txn in
                ProjectionInfo(
                    generation: try txn.get(tables.meta, key: Tables.generationKey).map { $0.withUnsafeBytes { Key.readU64($0) } } ?? 0,
                    rules: try txn.get(tables.meta, key: Tables.rulesKey).map { String(decoding: $0, as: UTF8.self) } ?? options.rules.table.version,
                    checkpoint: try txn.get(tables.meta, key: Tables.checkpointKey).map { $0.withUnsafeBytes { Key.readU64($0) } } ?? 0,
                    eventsFolded: 0, seconds: 0, validTimeSeconds: 0, commitSeconds: 0)
            }
        }
    }

    /// Frees a checkpointed tail's tries on a background queue: hundreds of thousands of nodes,
    /// whose deallocation would otherwise stand in the writer's path (5 % of the library ingest's
    /// CPU in a `perf` profile of `ledger-bench --only-ingest`, 2026-12-03).
    private static func release(_ tails: Tail?...) {
        guard tails.contains(where: { $0 != nil }) else { return }
        DispatchQueue.global(qos: .utility).async { withExtendedLifetime(tails) {} }
    }

    static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// The persisted projection: which generation, built with which rule table, up to which position.
public struct ProjectionInfo: Sendable, Hashable {
    /// Incremented by each rebuild from scratch (1 for the first build).
    public var generation: UInt64
    /// The rule table version the projection was built with.
    public var rules: String
    /// The last log position folded into it.
    public var checkpoint: UInt64
    /// Log records read by the call that returned this (a rebuild: the whole log; else 0).
    public var eventsFolded: UInt64
    /// Wall time of that call, in seconds (monotonic clock); for ``Ledger/rebuildProjection()``,
    /// its commit included.
    public var seconds: Double
    /// The part of ``seconds`` spent building the valid-time steps and minute checkpoints.
    public var validTimeSeconds: Double
    /// The part of ``seconds`` spent committing the rebuild's write transaction: LMDB writing the
    /// new projection's pages and, when durable, the fsync.
    public var commitSeconds: Double
}
