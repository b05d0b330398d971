import Crypto
import LMDBKit
import Synchronization
import ZstdKit

/// How a record keeps its raw source bytes (``RecordCodec`` format 2, its last field): stored as they
/// are, or as a zstd frame (RFC 8878) made with a dictionary trained on the feed's own documents.
///
/// | code | then |
/// |---|---|
/// | 0 stored | varint length + the bytes |
/// | 1 zstd | varint length + a zstd frame without dictionary (documents of ≥ 1 KiB before a dictionary exists: DSN emails) |
/// | 2 zstd with dictionary | varint dictionary id, varint length + frame |
/// | 3 zstd with a new dictionary | varint dictionary id, the dictionary's SHA-256 (32 bytes), varint length + frame |
///
/// Code 3 is the first record that uses a dictionary (the dictionary is trained in that record's
/// append): the hash chain covers the record, so it covers the dictionary through its digest,
/// and `verify` compares the digest with the dictionary kept in the ledger. Frames carry zstd's
/// content checksum and their content size, no dictionary id (the record says which): damaged
/// bytes fail to decompress rather than come back as other bytes. A dictionary's `meta` entry keeps
/// its SHA-256 too, checked whenever a process loads it: a damaged dictionary is named, never used.
///
/// A dictionary is immutable once written and never deleted; ids are dense from 1, one ledger-wide
/// sequence. Each source (``SourceFormat``) gets its own dictionary once
/// ``LedgerOptions/rawDictionaryTrainingSamples`` documents of it have been appended by one process; records appended before keep their bytes
/// stored (or zstd without dictionary). The exact input bytes always come back (``Event/raw``).
enum RawEncoding {
    static let stored: UInt8 = 0
    static let zstd: UInt8 = 1
    static let zstdDictionary: UInt8 = 2
    static let zstdNewDictionary: UInt8 = 3

    /// The largest raw document a record gives back (a damaged frame header cannot make a reader
    /// allocate more); the readers' own bounds are smaller (DSN 32 MiB).
    static let maximumSize = 64 << 20
}

/// The raw bytes of one event as a record holds them (``RawEncoding``).
struct EncodedRaw: Sendable {
    var code: UInt8
    var dictionary: UInt32 = 0
    var digest: [UInt8] = []
    var bytes: [UInt8]
}

/// How a record's raw bytes are kept: the encoding and, for codes 2 and 3, the dictionary (and the
/// digest a code-3 record carries).
struct RawReference: Hashable {
    var code: UInt8
    var dictionary: UInt32
    var digest: [UInt8]?
}

/// What a decoder does with a record's raw bytes: skip them (a fold needs none), or give them back,
/// decompressing with the ledger's dictionaries.
struct RawDecoder {
    /// `nil`: raw bytes are skipped (``Event/raw`` left empty).
    let dictionaries: [UInt32: CompressionDictionary]?
    /// Why some of the ledger's dictionaries could not be loaded (damage: missing, truncated, not the
    /// bytes their SHA-256 names), by id: thrown when a record needs one of them, so that what needs
    /// no raw bytes (a fold, KPIs), and records of the other dictionaries, still answer.
    var failures: [UInt32: CorruptRecordError] = [:]

    /// Raw bytes skipped: for folds and checks that do not read them.
    static let skip = RawDecoder(dictionaries: nil)
    /// Raw bytes given back, none compressed with a dictionary expected (records outside a ledger).
    static let withoutDictionaries = RawDecoder(dictionaries: [:])

    func decode(_ r: inout ByteReader, version: UInt8) throws(CorruptRecordError) -> (bytes: [UInt8], reference: RawReference) {
        let code = version == 1 ? RawEncoding.stored : try r.u8()
        var dictionaryID: UInt32 = 0
        var digest: [UInt8]? = nil
        switch code {
        case RawEncoding.stored, RawEncoding.zstd:
            break
        case RawEncoding.zstdDictionary, RawEncoding.zstdNewDictionary:
            let id = try r.varint()
            guard id >= 1, id <= UInt64(UInt32.max) else { throw CorruptRecordError(what: "raw bytes: dictionary id \(id) out of range") }
            dictionaryID = UInt32(id)
            if code == RawEncoding.zstdNewDictionary { digest = Array(try r.bytes(32)) }
        default:
            throw CorruptRecordError(what: "raw bytes: unknown encoding \(code)")
        }
        let n = try r.varint()
        guard n <= UInt64(r.remaining) else { throw CorruptRecordError(what: "raw bytes: length \(n) past the record's end") }
        let bytes = try r.bytes(Int(n))
        let reference = RawReference(code: code, dictionary: dictionaryID, digest: digest)
        guard let dictionaries else { return ([], reference) }
        if code == RawEncoding.stored { return (Array(bytes), reference) }
        var dictionary: CompressionDictionary? = nil
        if dictionaryID != 0 {
            guard let d = dictionaries[dictionaryID] else {
                throw failures[dictionaryID] ?? CorruptRecordError(what: "raw bytes compressed with dictionary \(dictionaryID), which the ledger does not hold")
            }
            dictionary = d
        }
        do {
            return (try Zstd.decompress(bytes, dictionary: dictionary, maximumSize: RawEncoding.maximumSize), reference)
        } catch {
            throw CorruptRecordError(what: "raw bytes do not decompress (\(error.message))")
        }
    }
}

/// A ledger's raw-bytes dictionaries, as this process knows them, and the samples it collects to
/// train new ones (``RawEncoding``). Kept in `meta` under `raw.dictionary.` + id (u32 BE): the
/// source's code (u8), the SHA-256 of the source code and the dictionary (32 bytes), then the
/// dictionary's bytes.
final class RawDictionaries: Sendable {
    /// Documents of one source appended by this process before its dictionary is trained
    /// (``LedgerOptions/rawDictionaryTrainingSamples``).
    let trainingSamples: Int

    /// This instance's number, unique in the process: a batch prepared by another ledger (another
    /// set of dictionaries, maybe with the same ids) is compressed again (``PreparedBatch``).
    let instance: UInt64
    private static let instances = Atomic<UInt64>(0)

    init(trainingSamples: Int) {
        self.trainingSamples = max(trainingSamples, 8)
        instance = Self.instances.add(1, ordering: .relaxed).newValue
    }
    /// The dictionary's capacity: 16 KiB (zstd advises samples ≈ 100× the capacity; 1,000 webhook
    /// elements of ~650 bytes compress to ~12 % with it, 8 KiB gave 13 %, 32 KiB the same as 16).
    static let dictionaryCapacity = 16 << 10
    /// Documents larger than this are not samples (a DSN email would crowd out the rest).
    static let largestSample = 16 << 10
    /// Without a dictionary, only documents at least this large are compressed.
    static let plainCompressionThreshold = 1024
    /// zstd level of the frames made with a dictionary (level 1 compressed the benchmark's webhook
    /// elements within 1 % of level 3, faster).
    static let level: Int32 = 1
    static let keyPrefix = Array("raw.dictionary.".utf8)

    static func key(_ id: UInt32) -> [UInt8] { keyPrefix + Key.u32(id) }

    private struct State {
        /// The dictionaries loaded, by id (ids are dense from 1; one that is damaged is in `problems`).
        var dictionaries: [UInt32: CompressionDictionary] = [:]
        var sourceOf: [UInt32: UInt8] = [:]
        /// The greatest id seen in `meta` (loaded or not): the next dictionary gets `known + 1`.
        var known: UInt32 = 0
        /// Why a dictionary up to `known` could not be loaded, by id.
        var problems: [UInt32: CorruptRecordError] = [:]
        /// Samples per source code, for sources without a dictionary.
        var samples: [UInt8: [[UInt8]]] = [:]
    }
    private let state = Mutex(State())

    /// Loads the dictionaries `txn` holds that this process has not seen yet. Each is loaded on its
    /// own: one that is missing (a gap in the ids), truncated, damaged (its SHA-256 in `meta` does not
    /// match) or not a zstd dictionary is noted in ``State/problems`` and named by whatever needs it;
    /// the others load.
    /// - Throws: ``LMDBError``.
    private func load(_ txn: borrowing Transaction, _ meta: Database) throws {
        let known = state.withLock { $0.known }
        var found: [(id: UInt32, entry: Result<(UInt8, CompressionDictionary), CorruptRecordError>)] = []
        var expected = known + 1
        try txn.scan(meta, from: Self.key(known + 1)) { k, v in
            guard k.count == Self.keyPrefix.count + 4, k.starts(with: Self.keyPrefix) else { return false }
            let id = Key.readU32(UnsafeRawBufferPointer(rebasing: k[Self.keyPrefix.count...]))
            while expected < id {
                found.append((expected, .failure(CorruptRecordError(what: "raw-bytes dictionary \(expected) is missing from meta (the next one there is \(id))"))))
                expected += 1
            }
            expected = id + 1
            guard v.count > 33 else {
                found.append((id, .failure(CorruptRecordError(what: "raw-bytes dictionary \(id) is truncated (\(v.count) bytes)"))))
                return true
            }
            let stored = Array(v[1..<33]), source = v[0], bytes = Array(v[33...])
            guard Array(SHA256.hash(data: [source] + bytes)) == stored else {
                found.append((id, .failure(CorruptRecordError(what: "raw-bytes dictionary \(id) is damaged (its SHA-256 in meta does not match its bytes)"))))
                return true
            }
            do throws(ZstdError) {
                found.append((id, .success((source, try CompressionDictionary(bytes: bytes, level: Self.level)))))
            } catch {
                found.append((id, .failure(CorruptRecordError(what: "raw-bytes dictionary \(id) is not a zstd dictionary (\(error.message))"))))
            }
            return true
        }
        guard !found.isEmpty else { return }
        state.withLock { s in
            for (id, entry) in found where id > s.known {
                switch entry {
                case .success(let (source, d)):
                    s.dictionaries[id] = d
                    s.sourceOf[id] = source
                case .failure(let e):
                    s.problems[id] = e
                }
                s.known = id
            }
        }
    }

    /// A decoder for records of `txn`'s snapshot. A dictionary that does not load (damage) is
    /// named when a record needs it (``RawDecoder/failures``), not before.
    func decoder(_ txn: borrowing Transaction, _ meta: Database) throws -> RawDecoder {
        try load(txn, meta)
        return state.withLock { RawDecoder(dictionaries: $0.dictionaries, failures: $0.problems) }
    }

    /// Every dictionary `txn` holds, with its source code, and why the others up to the greatest id
    /// do not load (for `verify`).
    func all(_ txn: borrowing Transaction, _ meta: Database) throws
        -> (dictionaries: [UInt32: (source: UInt8, dictionary: CompressionDictionary)], problems: [UInt32: CorruptRecordError]) {
        try load(txn, meta)
        return state.withLock { s in
            (Dictionary(uniqueKeysWithValues: s.dictionaries.map { ($0.key, (s.sourceOf[$0.key] ?? 0, $0.value)) }), s.problems)
        }
    }

    /// The compressor of one append of `events` in write transaction `txn`: the current dictionary
    /// of each source, and a new one trained for a source that has none once this process has seen
    /// ``trainingSamples`` of its documents, this batch's included. A new dictionary gets its id and
    /// is written to `meta` when the first record that uses it is encoded
    /// (``RawCompressor/encode(_:_:_:)``): every dictionary in the ledger is introduced by a record,
    /// and ids stay dense, whichever events of the batch turn out to be duplicates.
    ///
    /// A dictionary written in `txn` is known to this process only once a later transaction reads
    /// it from `meta` (after this one committed): the caller must not load dictionaries from `txn`
    /// after this call (``decoder(_:_:)`` first), or an append that then fails would leave this
    /// process compressing with a dictionary the ledger does not hold.
    func compressor(for events: UnsafeBufferPointer<Event>, _ txn: borrowing Transaction, _ meta: Database) throws -> RawCompressor {
        try load(txn, meta)
        var (current, known) = state.withLock { s in (Self.newestBySource(s), s.known) }
        var ready: [UInt8: [[UInt8]]] = [:]
        state.withLock { s in
            for i in events.indices where !events[i].raw.isEmpty && events[i].raw.count <= Self.largestSample {
                let source = RecordCodec.sourceCode(events[i].source)
                guard current[source] == nil, ready[source] == nil else { continue }
                s.samples[source, default: []].append(events[i].raw)
                if s.samples[source]!.count >= trainingSamples {
                    ready[source] = s.samples.removeValue(forKey: source)
                }
            }
        }
        for (source, samples) in ready {
            // A failed training (documents too few or too alike for zstd) keeps them stored; the
            // next samples try again.
            guard let bytes = try? Zstd.trainDictionary(samples: samples, capacity: Self.dictionaryCapacity),
                  let dictionary = try? CompressionDictionary(bytes: bytes, level: Self.level) else { continue }
            current[source] = .init(id: 0, dictionary: dictionary)  // its id at its first use
        }
        return RawCompressor(current: current, known: known)
    }

    /// Each source's newest dictionary among those loaded.
    private static func newestBySource(_ s: State) -> [UInt8: RawCompressor.Dictionary] {
        var current: [UInt8: RawCompressor.Dictionary] = [:]
        for (id, d) in s.dictionaries {
            if let src = s.sourceOf[id], current[src].map({ $0.id < id }) ?? true { current[src] = .init(id: id, dictionary: d) }
        }
        return current
    }

    /// The raw bytes of `events` compressed as ``RawCompressor/encode(_:source:precompressed:_:_:)`` would
    /// compress them with the dictionaries this process knows now, outside any transaction (on the
    /// caller's thread: a webhook's decoding thread rather than the ledger's single writer). An
    /// append uses each result whose source still has the dictionary it assumed, and compresses again
    /// the others (a dictionary trained or loaded since): the record is the same either way.
    func precompress(_ events: UnsafeBufferPointer<Event>) -> [PrecompressedRaw?] {
        let current = state.withLock { Self.newestBySource($0) }
        var scratch: [UInt8] = []
        return events.map { event -> PrecompressedRaw? in
            let dictionary = current[RecordCodec.sourceCode(event.source)]
            guard let encoded = try? RawCompressor.encode(event.raw, with: dictionary, scratch: &scratch) else { return nil }
            return PrecompressedRaw(dictionary: dictionary?.id ?? 0, encoded: encoded)
        }
    }
}

/// One event's raw bytes compressed before its append (``RawDictionaries/precompress(_:)``), and
/// the dictionary of its source that compression assumed (0: none).
struct PrecompressedRaw: Sendable {
    var dictionary: UInt32
    var encoded: EncodedRaw
}

/// Compresses the raw bytes of one append's events (``RawDictionaries/compressor(for:_:_:)``).
struct RawCompressor {
    /// A dictionary and its id; id 0 for one trained in this append and not used yet.
    struct Dictionary {
        var id: UInt32
        let dictionary: CompressionDictionary
    }
    /// Per source code, its newest dictionary.
    private var current: [UInt8: Dictionary]
    /// The highest dictionary id in the ledger (this append's included).
    private var known: UInt32
    private var scratch: [UInt8] = []

    fileprivate init(current: [UInt8: Dictionary], known: UInt32) {
        self.current = current
        self.known = known
    }

    /// Records that keep their raw bytes as they are (serialized events outside a ledger).
    static let none = RawCompressor(current: [:], known: 0)

    /// How an event's raw bytes `raw`, of `source`, are kept: compressed when that makes them smaller. The first record
    /// that uses a dictionary trained in this append introduces it: the dictionary gets the next id
    /// and is written to `meta` in `txn`. `precompressed` (``RawDictionaries/precompress(_:)``) is
    /// taken as it is when it assumed the dictionary its source has now; otherwise the bytes are
    /// compressed here.
    mutating func encode(_ raw: [UInt8], source: SourceFormat, precompressed: PrecompressedRaw?, _ txn: borrowing Transaction, _ meta: Database) throws -> EncodedRaw {
        let source = RecordCodec.sourceCode(source)
        let dictionary = current[source]
        if let precompressed, precompressed.dictionary == (dictionary?.id ?? 0),
           dictionary.map({ $0.id != 0 }) ?? true {  // id 0: trained in this append, used by no frame made before it
            return precompressed.encoded
        }
        let raw = try Self.encode(raw, with: dictionary, scratch: &scratch)
        guard raw.code == RawEncoding.zstdDictionary, let dictionary, dictionary.id == 0 else { return raw }
        known += 1
        let d = dictionary.dictionary.bytes
        let digest = Array(SHA256.hash(data: [source] + d))
        try txn.put(meta, key: RawDictionaries.key(known), value: [source] + digest + d, mode: .insertOnly)
        current[source]!.id = known
        return EncodedRaw(code: RawEncoding.zstdNewDictionary, dictionary: known, digest: Array(SHA256.hash(data: d)), bytes: raw.bytes)
    }

    /// `raw` kept as it is, or compressed with `dictionary` (its source's newest), or without one when
    /// it has no dictionary and is ≥ ``RawDictionaries/plainCompressionThreshold`` bytes — whichever
    /// is smaller. A dictionary not written yet (id 0) gives code 2 with id 0: the caller introduces it.
    /// - Throws: ``ZstdError`` (out of memory).
    static func encode(_ raw: [UInt8], with dictionary: Dictionary?, scratch: inout [UInt8]) throws(ZstdError) -> EncodedRaw {
        // Documents over the readers' decompression bound are kept as they are: what is compressed
        // must always come back.
        guard !raw.isEmpty, raw.count <= RawEncoding.maximumSize,
              dictionary != nil || raw.count >= RawDictionaries.plainCompressionThreshold else {
            return EncodedRaw(code: RawEncoding.stored, bytes: raw)
        }
        scratch.removeAll(keepingCapacity: true)
        let failure = raw.withUnsafeBytes { raw -> ZstdError? in
            do throws(ZstdError) { try Zstd.compress(raw, dictionary: dictionary?.dictionary, into: &scratch) } catch { return error }
            return nil
        }
        if let failure { throw failure }
        guard scratch.count < raw.count else { return EncodedRaw(code: RawEncoding.stored, bytes: raw) }
        guard let dictionary else { return EncodedRaw(code: RawEncoding.zstd, bytes: scratch) }
        return EncodedRaw(code: RawEncoding.zstdDictionary, dictionary: dictionary.id, bytes: scratch)
    }
}
