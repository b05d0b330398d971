import Crypto

/// The tamper-evidence hash chain over the log (SHA-256, swift-crypto): one link per append.
///
/// Each append (the records `a…b` of one write transaction) stores one entry in the `hashes`
/// table, under the key `b` (u64 big-endian), written with `MDB_APPEND`:
///
///     value = H(b) ‖ d(a) ‖ d(a+1) ‖ … ‖ d(b)          (32 + 8 × (b − a + 1) bytes)
///     H(b)  = SHA-256(H(prev) ‖ u64 a ‖ Σ_p (u32 length of p ‖ record bytes of p) ‖ u64 b)
///     d(p)  = FNV-1a 64 of (u64 p ‖ record bytes of p), big-endian
///
/// `H(prev)` is the previous entry's `H` (32 zero bytes before the first). `H` covers every byte of
/// every record, so rewriting a record, its digest or an entry breaks the chain from there on; the
/// per-record digests `d(p)` only say *which* record of an append differs, so that ``Ledger/verify(maximumProblems:)``
/// names the exact first bad position. 8 bytes per record and one B-tree entry per append,
/// instead of a 32-byte value and a B-tree entry per record (about 51 bytes an event on disk,
/// issue #10 item 4).
///
/// Ledgers written before (format 3) have one entry per position whose value is exactly 32 bytes,
/// `H(p) = SHA-256(H(p−1) ‖ u64 p ‖ record bytes of p)` (``next(_:position:record:)``): read as
/// appends of one record, so old and new entries chain into one another without a migration.
enum HashChain {
    static let genesis = [UInt8](repeating: 0, count: 32)

    /// The format-3 link of one record (see above).
    static func next(_ previous: [UInt8], position: UInt64, record: UnsafeRawBufferPointer) -> [UInt8] {
        var hasher = SHA256()
        previous.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        var be = position.bigEndian
        withUnsafeBytes(of: &be) { hasher.update(bufferPointer: $0) }
        hasher.update(bufferPointer: record)
        return hasher.finalize().withUnsafeBytes { Array($0) }
    }

    /// `d(p)`: FNV-1a 64 over the position (u64 big-endian) and the record's bytes.
    static func digest(position: UInt64, record: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        let prime: UInt64 = 0x0000_0100_0000_01b3
        var p = position.bigEndian
        withUnsafeBytes(of: &p) { for b in $0 { h = (h ^ UInt64(b)) &* prime } }
        for b in record { h = (h ^ UInt64(b)) &* prime }
        return h
    }

    /// The link of one append being written or checked: feed its records in order, then ``finish(last:)``.
    struct Link {
        private var hasher = SHA256()
        private(set) var first: UInt64
        /// `d(p)` of each record fed, 8 bytes each, big-endian.
        private(set) var digests: [UInt8] = []

        init(previous: [UInt8], first: UInt64) {
            self.first = first
            previous.withUnsafeBytes { hasher.update(bufferPointer: $0) }
            var a = first.bigEndian
            withUnsafeBytes(of: &a) { hasher.update(bufferPointer: $0) }
        }

        /// Feeds the record at `position` and returns its digest.
        @discardableResult
        mutating func add(position: UInt64, record: UnsafeRawBufferPointer) -> UInt64 {
            var length = UInt32(truncatingIfNeeded: record.count).bigEndian
            withUnsafeBytes(of: &length) { hasher.update(bufferPointer: $0) }
            hasher.update(bufferPointer: record)
            let d = HashChain.digest(position: position, record: record)
            var be = d.bigEndian
            withUnsafeBytes(of: &be) { digests.append(contentsOf: $0) }
            return d
        }

        /// `H(last)`.
        func finish(last: UInt64) -> [UInt8] {
            var h = hasher
            var b = last.bigEndian
            withUnsafeBytes(of: &b) { h.update(bufferPointer: $0) }
            return h.finalize().withUnsafeBytes { Array($0) }
        }
    }

    /// A stored entry, read: its head `H` and, for a format-4 entry, the digests of its records.
    struct Entry {
        var last: UInt64
        var head: [UInt8]
        /// `nil` for a format-3 entry (one record, `head` = ``HashChain/next(_:position:record:)``).
        var digests: [UInt64]?
        /// The first position the entry covers.
        var first: UInt64 { digests.map { last - UInt64($0.count) + 1 } ?? last }

        /// Reads an entry; `nil` when the value has no valid length (32, or 32 + a positive multiple of 8).
        init?(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
            guard key.count == 8, value.count >= 32, value.count == 32 || (value.count - 32) % 8 == 0 else { return nil }
            last = Key.readU64(key)
            head = Array(value.prefix(32))
            if value.count == 32 {
                digests = nil
            } else {
                let n = (value.count - 32) / 8
                guard UInt64(n) <= last else { return nil }
                digests = (0..<n).map { i in Key.readU64(UnsafeRawBufferPointer(rebasing: value[(32 + 8 * i)..<(40 + 8 * i)])) }
            }
        }
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 0xF)]) }
        return String(decoding: out, as: UTF8.self)
    }
}
