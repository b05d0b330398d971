#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
/// Appends the primitive encodings of the ledger's binary formats to a byte buffer.
///
/// Integers are LEB128 varints (unsigned) or zig-zag varints (signed); fixed-width integers are
/// big-endian so that keys sort numerically.
struct ByteWriter {
    var bytes: [UInt8] = []

    init(capacity: Int = 128) { bytes.reserveCapacity(capacity) }

    mutating func u8(_ v: UInt8) { bytes.append(v) }

    mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func zigzag(_ v: Int64) {
        varint(UInt64(bitPattern: (v << 1) ^ (v >> 63)))
    }

    mutating func string(_ s: String) {
        let utf8 = s.utf8
        varint(UInt64(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    mutating func blob(_ b: [UInt8]) {
        varint(UInt64(b.count))
        bytes.append(contentsOf: b)
    }

    mutating func u32be(_ v: UInt32) {
        bytes.append(UInt8(truncatingIfNeeded: v >> 24)); bytes.append(UInt8(truncatingIfNeeded: v >> 16))
        bytes.append(UInt8(truncatingIfNeeded: v >> 8)); bytes.append(UInt8(truncatingIfNeeded: v))
    }

    mutating func u64be(_ v: UInt64) {
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt64(shift))) }
    }

    mutating func i64be(_ v: Int64) { u64be(UInt64(bitPattern: v)) }
}

/// Writes the same primitive encodings as ``ByteWriter`` into memory the caller provides and
/// sized for the worst case (no capacity check, no allocation): for bulk loads.
struct RawWriter {
    let base: UnsafeMutableRawPointer
    private(set) var count = 0

    init(_ base: UnsafeMutableRawPointer) { self.base = base }

    @inline(__always)
    mutating func u8(_ v: UInt8) {
        base.storeBytes(of: v, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    @inline(__always)
    mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            u8(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        u8(UInt8(v))
    }

    @inline(__always)
    mutating func zigzag(_ v: Int64) {
        varint(UInt64(bitPattern: (v << 1) ^ (v >> 63)))
    }

    @inline(__always)
    mutating func u32be(_ v: UInt32) {
        base.storeBytes(of: v.bigEndian, toByteOffset: count, as: UInt32.self)
        count += 4
    }

    @inline(__always)
    mutating func u64be(_ v: UInt64) {
        base.storeBytes(of: v.bigEndian, toByteOffset: count, as: UInt64.self)
        count += 8
    }

    /// The bytes written so far.
    var buffer: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
}

/// A malformed stored record: the bytes do not decode.
public struct CorruptRecordError: Error, Sendable, CustomStringConvertible {
    /// What does not decode, and where in the bytes.
    public var what: String
    public var description: String { "corrupt stored data: \(what)" }
}

/// Reads what ``ByteWriter`` wrote, checking bounds.
struct ByteReader {
    let buffer: UnsafeRawBufferPointer
    var offset = 0

    init(_ buffer: UnsafeRawBufferPointer) { self.buffer = buffer }

    var isAtEnd: Bool { offset >= buffer.count }
    var remaining: Int { buffer.count - offset }

    @inline(__always)
    mutating func u8() throws(CorruptRecordError) -> UInt8 {
        guard offset < buffer.count else { throw ByteReader.truncated(at: offset) }
        defer { offset += 1 }
        return buffer[offset]
    }

    // Inlined (the decoders read a few per record); the errors are built out of line.
    @inline(__always)
    mutating func varint() throws(CorruptRecordError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try u8()
            guard shift < 64 else { throw ByteReader.tooLong(at: offset) }
            result |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return result }
            shift += 7
        }
    }

    @inline(never)
    private static func truncated(at offset: Int) -> CorruptRecordError { CorruptRecordError(what: "truncated at byte \(offset)") }

    @inline(never)
    private static func tooLong(at offset: Int) -> CorruptRecordError { CorruptRecordError(what: "varint too long at byte \(offset)") }

    @inline(__always)
    mutating func zigzag() throws(CorruptRecordError) -> Int64 {
        let v = try varint()
        return Int64(bitPattern: (v >> 1) ^ (0 &- (v & 1)))
    }

    mutating func bytes(_ n: Int) throws(CorruptRecordError) -> UnsafeRawBufferPointer {
        guard n >= 0, offset + n <= buffer.count else { throw CorruptRecordError(what: "length \(n) past end at byte \(offset)") }
        defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + n])
    }

    mutating func string() throws(CorruptRecordError) -> String {
        let n = try varint()
        guard n <= UInt64(buffer.count) else { throw CorruptRecordError(what: "string length \(n) too large") }
        let b = try bytes(Int(n))
        guard let s = String(validating: b, as: UTF8.self) else { throw CorruptRecordError(what: "string is not UTF-8") }
        return s
    }

    mutating func blob() throws(CorruptRecordError) -> [UInt8] {
        let n = try varint()
        guard n <= UInt64(buffer.count) else { throw CorruptRecordError(what: "blob length \(n) too large") }
        return Array(try bytes(Int(n)))
    }

    mutating func u32be() throws(CorruptRecordError) -> UInt32 {
        let b = try bytes(4)
        return UInt32(b[0]) << 24 | UInt32(b[1]) << 16 | UInt32(b[2]) << 8 | UInt32(b[3])
    }

    mutating func u64be() throws(CorruptRecordError) -> UInt64 {
        let b = try bytes(8)
        var v: UInt64 = 0
        for i in 0..<8 { v = v << 8 | UInt64(b[i]) }
        return v
    }

    mutating func i64be() throws(CorruptRecordError) -> Int64 { Int64(bitPattern: try u64be()) }
}

/// Big-endian key encodings (keys sort numerically in LMDB's default byte order).
enum Key {
    static func u64(_ v: UInt64) -> [UInt8] { var w = ByteWriter(capacity: 8); w.u64be(v); return w.bytes }
    static func u32(_ v: UInt32) -> [UInt8] { var w = ByteWriter(capacity: 4); w.u32be(v); return w.bytes }
    /// Calls `body` with the 8 big-endian bytes of `v` (no array).
    @inline(__always)
    static func withU64<R>(_ v: UInt64, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        var be = v.bigEndian
        return try withUnsafeBytes(of: &be, body)
    }
    /// Calls `body` with the 4 big-endian bytes of `v` (no array).
    @inline(__always)
    static func withU32<R>(_ v: UInt32, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        var be = v.bigEndian
        return try withUnsafeBytes(of: &be, body)
    }
    static func readU64(_ b: UnsafeRawBufferPointer) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<min(8, b.count) { v = v << 8 | UInt64(b[i]) }
        return v
    }
    static func readU32(_ b: UnsafeRawBufferPointer) -> UInt32 {
        var v: UInt32 = 0
        for i in 0..<min(4, b.count) { v = v << 8 | UInt32(b[i]) }
        return v
    }
}

/// Bytes as a dictionary key, hashed in bulk (an `[UInt8]` key hashes byte by byte).
struct ByteKey: Hashable {
    var bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    func hash(into hasher: inout Hasher) { bytes.withUnsafeBytes { hasher.combine(bytes: $0) } }

    /// Byte order (LMDB's default key order: `memcmp`, then the shorter first).
    static func precedes(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        let n = min(a.count, b.count)
        let c = a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { y in n == 0 ? 0 : memcmp(x.baseAddress!, y.baseAddress!, n) } }
        return c != 0 ? c < 0 : a.count < b.count
    }

    /// Byte order of two slices (as ``precedes(_:_:)-(_,[UInt8])``).
    static func precedes(_ a: ArraySlice<UInt8>, _ b: ArraySlice<UInt8>) -> Bool {
        let n = min(a.count, b.count)
        let c = a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { y in n == 0 ? 0 : memcmp(x.baseAddress!, y.baseAddress!, n) } }
        return c != 0 ? c < 0 : a.count < b.count
    }
}
