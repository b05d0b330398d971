import Foundation

/// Reading the values of a JSON text that ``JSONSyntax`` has validated (internal).
///
/// Every function here assumes valid input (so it never throws) but stays memory-safe on any
/// input: indexes are bounds-checked, and a malformed text gives some value rather than a crash.
enum JSONText {
    /// Appends the UTF-8 bytes of a string's content (between its quotes) with its escapes decoded
    /// (RFC 8259 §7; a surrogate pair becomes one 4-byte character).
    static func unescape(_ content: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        var j = 0
        let n = content.count
        func hex(_ at: Int) -> UInt32 {
            var v: UInt32 = 0
            for k in 0..<4 where at + k < n {
                let c = content[at + k]
                let d: UInt32 = c <= 0x39 ? UInt32(c &- 0x30) : UInt32((c | 0x20) &- 0x61 &+ 10)
                v = v << 4 | (d & 0xF)
            }
            return v
        }
        while j < n {
            let b = content[j]
            guard b == UInt8(ascii: "\\"), j + 1 < n else { out.append(b); j += 1; continue }
            let e = content[j + 1]
            j += 2
            switch e {
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var u = hex(j)
                j += 4
                if u >= 0xD800 && u <= 0xDBFF, j + 6 <= n, content[j] == UInt8(ascii: "\\"), content[j + 1] == UInt8(ascii: "u") {
                    let low = hex(j + 2)
                    if low >= 0xDC00 && low <= 0xDFFF {
                        u = 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00)
                        j += 6
                    }
                }
                let scalar = Unicode.Scalar(u) ?? "\u{FFFD}"
                out.append(contentsOf: UTF8.encode(scalar)!)
            default: out.append(e)
            }
        }
    }

    /// The text of a string's content (between its quotes), escapes decoded.
    static func string(_ content: UnsafeBufferPointer<UInt8>) -> String {
        if memchr(content.baseAddress ?? UnsafePointer(bitPattern: 1)!, 0x5C, content.count) == nil {
            return String(decoding: content, as: UTF8.self)
        }
        var out: [UInt8] = []
        out.reserveCapacity(content.count)
        unescape(content, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// A number's value: an integer without fraction or exponent that fits `Int64` is exact
    /// (`.int`), every other number is the nearest `Double` (`.double`). `JSONSerialization` reads the
    /// same, except that it turns integers beyond `UInt64`, negative integers of 19 digits and
    /// mantissas of 19 digits or more into `NSDecimalNumber`s whose conversion to `Double` can be off
    /// by tens of units in the last place (measured: -1010704324955392870 became a `Double`): this
    /// reader gives the exact integer, or the correctly rounded `Double`.
    static func number(_ text: UnsafeBufferPointer<UInt8>) -> JSONValue {
        var integral = true
        for b in text where b == UInt8(ascii: ".") || b == UInt8(ascii: "e") || b == UInt8(ascii: "E") {
            integral = false
            break
        }
        if integral, text.count <= 20, let i = int64(text) { return .int(i) }
        return .double(Double(String(decoding: text, as: UTF8.self)) ?? .nan)
    }

    /// An optional `-` and digits as an `Int64`; `nil` on overflow or any other byte.
    static func int64(_ text: UnsafeBufferPointer<UInt8>) -> Int64? {
        guard !text.isEmpty else { return nil }
        var j = 0
        let negative = text[0] == UInt8(ascii: "-")
        if negative { j = 1 }
        guard j < text.count else { return nil }
        var v: Int64 = 0
        while j < text.count {
            let d = text[j] &- 0x30
            guard d <= 9 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = negative ? m.subtractingReportingOverflow(Int64(d)) : m.addingReportingOverflow(Int64(d))
            guard !o1, !o2 else { return nil }
            v = s
            j += 1
        }
        return v
    }
}
