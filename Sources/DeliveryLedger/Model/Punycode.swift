/// Punycode decoding (RFC 3492 §6.2), for IDNA A-labels (`xn--…`, RFC 5890 §2.3.2.1): the label
/// `xn--exmple-cua` is the U-label `exämple`. Only decoding: ``Address`` writes a domain's A-labels as
/// their U-labels, so that the two forms of one domain are one recipient (RFC 5890 §2.3.2.1: they
/// are equivalent; an MTA reports the A-label where the sender wrote the U-label).
enum Punycode {
    private static let base = 36, tMin = 1, tMax = 26, skew = 38, damp = 700, initialBias = 72, initialN = 128

    /// The U-label of an A-label (`xn--` and the Punycode of RFC 3492, ASCII letters in any case),
    /// or `nil` when `label` is not one or does not decode to a label of non-ASCII scalars:
    /// the caller keeps the label as written.
    static func uLabel(_ label: Substring) -> String? {
        guard label.utf8.count > 4, label.prefix(4).lowercased() == "xn--" else { return nil }
        guard let decoded = decode(Array(label.utf8.dropFirst(4))), decoded.contains(where: { !$0.isASCII }) else { return nil }
        var out = ""
        out.unicodeScalars.append(contentsOf: decoded)
        return out.lowercased()
    }

    /// RFC 3492 §6.2 decoding of the Punycode `input` (ASCII bytes), or `nil` on bad input
    /// (a non-basic code point before the last delimiter, a bad digit, an overflow, a surrogate).
    static func decode(_ input: [UInt8]) -> [Unicode.Scalar]? {
        guard input.count <= 63, input.allSatisfy({ $0 < 0x80 }) else { return nil }
        var output: [Unicode.Scalar] = []
        var rest = input[...]
        if let delimiter = input.lastIndex(of: UInt8(ascii: "-")) {
            for b in input[..<delimiter] { output.append(Unicode.Scalar(b)) }
            rest = input[(delimiter + 1)...]
        }
        var n = initialN, i = 0, bias = initialBias
        var position = rest.startIndex
        while position < rest.endIndex {
            let oldI = i
            var w = 1
            var k = base
            while true {
                guard position < rest.endIndex, let digit = digitValue(rest[position]) else { return nil }
                position += 1
                let (product, overflow1) = digit.multipliedReportingOverflow(by: w)
                let (sum, overflow2) = i.addingReportingOverflow(product)
                guard !overflow1, !overflow2, sum < 0x10FFFF * 64 else { return nil }
                i = sum
                let t = k <= bias ? tMin : (k >= bias + tMax ? tMax : k - bias)
                if digit < t { break }
                w *= base - t
                guard w < 0x10FFFF * 64 else { return nil }
                k += base
            }
            bias = adapt(delta: i - oldI, points: output.count + 1, first: oldI == 0)
            n += i / (output.count + 1)
            i %= output.count + 1
            guard n <= 0x10FFFF, let scalar = Unicode.Scalar(UInt32(n)) else { return nil }
            output.insert(scalar, at: i)
            i += 1
        }
        return output
    }

    private static func digitValue(_ b: UInt8) -> Int? {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"): Int(b - UInt8(ascii: "a"))
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): Int(b - UInt8(ascii: "A"))
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(b - UInt8(ascii: "0")) + 26
        default: nil
        }
    }

    private static func adapt(delta: Int, points: Int, first: Bool) -> Int {
        var delta = first ? delta / damp : delta / 2
        delta += delta / points
        var k = 0
        while delta > ((base - tMin) * tMax) / 2 {
            delta /= base - tMin
            k += base
        }
        return k + (base - tMin + 1) * delta / (delta + skew)
    }
}
