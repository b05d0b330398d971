import Crypto

/// The tamper-evidence hash chain over the log (SHA-256, swift-crypto).
///
/// `H(0)` is 32 zero bytes; `H(p) = SHA-256(H(p−1) ‖ p as u64 big-endian ‖ record bytes of p)`.
/// Every position's `H(p)` is stored (`hashes` table, written with `MDB_APPEND` in the append
/// transaction), so verification names the exact first position whose bytes differ; `H(last)`, the
/// head, can be kept elsewhere to detect a rewrite of the whole chain.
enum HashChain {
    static let genesis = [UInt8](repeating: 0, count: 32)

    static func next(_ previous: [UInt8], position: UInt64, record: UnsafeRawBufferPointer) -> [UInt8] {
        var hasher = SHA256()
        previous.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        var be = position.bigEndian
        withUnsafeBytes(of: &be) { hasher.update(bufferPointer: $0) }
        hasher.update(bufferPointer: record)
        return hasher.finalize().withUnsafeBytes { Array($0) }
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 0xF)]) }
        return String(decoding: out, as: UTF8.self)
    }
}
