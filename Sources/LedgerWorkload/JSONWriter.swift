import DeliveryLedger
/// Writes JSON text straight into a byte buffer: no `JSONEncoder`, no intermediate `String`.
///
/// Strings are escaped per RFC 8259 §7: `"` and `\` are backslash-escaped, control characters
/// U+0000…U+001F become `\b \f \n \r \t` or `\u00XX`, everything else (valid UTF-8, since it comes
/// from Swift strings) is copied as is.
///
/// The buffer is owned manually (a non-copyable struct that frees it in `deinit`), so appends
/// are a bounds check and a `memcpy`: rendering millions of events is dominated by the bytes
/// themselves, not by array bookkeeping.
struct JSONWriter: ~Copyable {
    private var base: UnsafeMutablePointer<UInt8>
    /// Bytes written so far.
    private(set) var count: Int
    private var capacity: Int

    init(capacity: Int = 256) {
        self.capacity = max(capacity, 64)
        base = .allocate(capacity: self.capacity)
        count = 0
    }

    deinit {
        base.deallocate()
    }

    /// Whether nothing has been written.
    var isEmpty: Bool { count == 0 }

    /// The bytes written so far, copied into an array.
    var bytes: [UInt8] { Array(UnsafeBufferPointer(start: base, count: count)) }

    /// Forgets the contents, keeping the buffer.
    mutating func reset() {
        count = 0
    }

    /// Makes room for `extra` more bytes.
    @inline(__always)
    mutating func reserve(_ extra: Int) {
        if count + extra > capacity { grow(to: count + extra) }
    }

    private mutating func grow(to minimum: Int) {
        let newCapacity = max(minimum, capacity * 2)
        let newBase = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        newBase.update(from: base, count: count)
        base.deallocate()
        base = newBase
        capacity = newCapacity
    }

    /// Appends raw bytes.
    @inline(__always)
    mutating func append(_ source: UnsafeBufferPointer<UInt8>) {
        guard let start = source.baseAddress else { return }
        reserve(source.count)
        (base + count).update(from: start, count: source.count)
        count += source.count
    }

    /// Appends literal JSON text (punctuation, keys), written as a static string.
    @inline(__always)
    mutating func raw(_ text: StaticString) {
        reserve(text.utf8CodeUnitCount)
        (base + count).update(from: text.utf8Start, count: text.utf8CodeUnitCount)
        count += text.utf8CodeUnitCount
    }

    /// Appends bytes that are already valid JSON text.
    @inline(__always)
    mutating func raw(_ fragment: [UInt8]) {
        fragment.withUnsafeBufferPointer { append($0) }
    }

    /// Appends bytes that are already valid JSON text.
    @inline(__always)
    mutating func raw(_ fragment: ArraySlice<UInt8>) {
        fragment.withUnsafeBufferPointer { append($0) }
    }

    /// Appends one byte.
    @inline(__always)
    mutating func byte(_ b: UInt8) {
        reserve(1)
        base[count] = b
        count += 1
    }

    /// Appends the decimal digits of a non-negative or negative integer.
    mutating func integer(_ value: Int64) {
        if value < 0 {
            byte(UInt8(ascii: "-"))
            unsigned(value.magnitude)
        } else {
            unsigned(UInt64(value))
        }
    }

    /// Appends the decimal digits of an unsigned integer.
    mutating func unsigned(_ value: UInt64) {
        var digits = 1
        var v = value
        while v >= 10 { v /= 10; digits += 1 }
        reserve(digits)
        v = value
        var k = count + digits - 1
        repeat {
            base[k] = UInt8(truncatingIfNeeded: v % 10) &+ 48
            v /= 10
            k -= 1
        } while v > 0
        count += digits
    }

    /// Appends a non-negative integer zero-padded to `width` digits (for dates).
    mutating func padded(_ value: Int64, width: Int) {
        reserve(width)
        var v = value
        for k in stride(from: count + width - 1, through: count, by: -1) {
            base[k] = UInt8(truncatingIfNeeded: v % 10) &+ 48
            v /= 10
        }
        count += width
    }

    /// Appends a quoted, escaped JSON string.
    mutating func string(_ text: String) {
        byte(UInt8(ascii: "\""))
        escaped(text)
        byte(UInt8(ascii: "\""))
    }

    /// Appends the escaped contents of a JSON string, without the quotes.
    mutating func escaped(_ text: String) {
        var text = text
        text.withUTF8 { escaped($0) }
    }

    /// Appends the escaped contents of a JSON string given as UTF-8 bytes, without the quotes.
    mutating func escaped(_ utf8: UnsafeBufferPointer<UInt8>) {
        var runStart = 0
        for i in 0..<utf8.count {
            let c = utf8[i]
            if c >= 0x20 && c != 0x22 && c != 0x5C { continue }
            if runStart < i { append(UnsafeBufferPointer(rebasing: utf8[runStart..<i])) }
            runStart = i + 1
            byte(UInt8(ascii: "\\"))
            switch c {
            case 0x22: byte(0x22)
            case 0x5C: byte(0x5C)
            case 0x0A: byte(UInt8(ascii: "n"))
            case 0x0D: byte(UInt8(ascii: "r"))
            case 0x09: byte(UInt8(ascii: "t"))
            case 0x08: byte(UInt8(ascii: "b"))
            case 0x0C: byte(UInt8(ascii: "f"))
            default:
                let hex = JSONWriter.hexDigits
                byte(UInt8(ascii: "u")); byte(48); byte(48)
                byte(hex[Int(c >> 4)])
                byte(hex[Int(c & 0xF)])
            }
        }
        if runStart < utf8.count { append(UnsafeBufferPointer(rebasing: utf8[runStart...])) }
    }

    /// Appends the escaped contents of a JSON string given as UTF-8 bytes, without the quotes.
    mutating func escaped(_ utf8: [UInt8]) {
        utf8.withUnsafeBufferPointer { escaped($0) }
    }

    /// Lower-case hexadecimal digits.
    static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends the low `digits` hexadecimal digits of `value`, most significant first.
    mutating func hex(_ value: UInt64, digits: Int) {
        reserve(digits)
        JSONWriter.hexDigits.withUnsafeBufferPointer { h in
            var v = value
            for k in stride(from: count + digits - 1, through: count, by: -1) {
                base[k] = h[Int(v & 0xF)]
                v >>= 4
            }
        }
        count += digits
    }

    /// Appends an instant as a quoted RFC 3339 UTC string with milliseconds,
    /// e.g. `"2026-11-02T09:00:00.000Z"`.
    ///
    /// - Parameter milliseconds: milliseconds since the Unix epoch (UTC).
    mutating func rfc3339(milliseconds ms: Int64) {
        byte(UInt8(ascii: "\""))
        raw(Array(Instant(millisecondsSinceEpoch: ms).rfc3339.utf8))
        byte(UInt8(ascii: "\""))
    }
}

extension Array where Element == UInt8 {
    /// The bytes of `text` as a quoted, escaped JSON string.
    static func jsonString(_ text: String) -> [UInt8] {
        var w = JSONWriter()
        w.string(text)
        return w.bytes
    }

    /// The bytes of `text` escaped for use inside a JSON string (no quotes).
    static func jsonEscaped(_ text: String) -> [UInt8] {
        var w = JSONWriter()
        w.escaped(text)
        return w.bytes
    }
}
