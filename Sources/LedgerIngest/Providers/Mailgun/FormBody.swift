import DeliveryLedger

/// Decodes an `application/x-www-form-urlencoded` body (WHATWG URL Standard §5.1: `name=value`
/// pairs separated by `&`, `+` for a space, `%XX` for a byte) — the body of Mailgun's legacy
/// webhooks — into the JSON object the Mailgun reader reads (internal).
enum FormBody {
    /// The body as a JSON object of strings, members in body order.
    ///
    /// - Throws: ``IngestError`` naming the byte offset of a bad `%` escape, a name given twice, a
    ///   value that is not UTF-8 once decoded, or a body with no `name=value` pair.
    static func jsonObject(_ body: [UInt8], file: String, offset: Int) throws(IngestError) -> [UInt8] {
        var pairs: [(String, String)] = []
        var seen: Set<String> = []
        func decode(_ part: ArraySlice<UInt8>) throws(IngestError) -> String {
            var out: [UInt8] = []
            out.reserveCapacity(part.count)
            var i = part.startIndex
            while i < part.endIndex {
                let b = part[i]
                if b == UInt8(ascii: "+") {
                    out.append(0x20)
                } else if b == UInt8(ascii: "%") {
                    guard i + 2 < part.endIndex, let hi = hex(part[i + 1]), let lo = hex(part[i + 2]) else {
                        throw IngestError(file: file, offset: offset + i, message: "malformed form body: '%' is not followed by two hex digits")
                    }
                    out.append(hi << 4 | lo)
                    i += 2
                } else {
                    out.append(b)
                }
                i += 1
            }
            guard let s = String(validating: out, as: UTF8.self) else {
                throw IngestError(file: file, offset: offset + part.startIndex, message: "malformed form body: a field is not UTF-8 once decoded")
            }
            return s
        }
        // Trailing CR/LF (a body saved as a file) is not part of the last value.
        var end = body.count
        while end > 0, body[end - 1] == 0x0A || body[end - 1] == 0x0D { end -= 1 }
        var start = 0
        while start < end {
            let stop = body[start..<end].firstIndex(of: UInt8(ascii: "&")) ?? end
            if stop > start {
                let eq = body[start..<stop].firstIndex(of: UInt8(ascii: "=")) ?? stop
                let name = try decode(body[start..<eq])
                let value = eq < stop ? try decode(body[(eq + 1)..<stop]) : ""
                guard !seen.contains(name) else {
                    throw IngestError(file: file, offset: offset + start, message: "malformed form body: field \(JSONValue.quoted(name)) given twice")
                }
                seen.insert(name)
                pairs.append((name, value))
            }
            start = stop + 1
        }
        guard !pairs.isEmpty else { throw IngestError(file: file, offset: offset, message: "not a form body: no name=value field") }
        var out: [UInt8] = [UInt8(ascii: "{")]
        for (n, (name, value)) in pairs.enumerated() {
            if n > 0 { out.append(UInt8(ascii: ",")) }
            out += JSONValue.string(name).canonicalBytes
            out.append(UInt8(ascii: ":"))
            out += JSONValue.string(value).canonicalBytes
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// Whether the bytes look like a form body with an `event` field: a first name of letters,
    /// digits, `-`, `_`, `.` or `%` escapes followed by `=`, and no line break before the end
    /// (auto-detection of Mailgun's legacy webhooks).
    static func looksLikeForm(_ bytes: [UInt8], from start: Int) -> Bool {
        var i = start
        while i < bytes.count, i - start < 64 {
            let b = bytes[i]
            if b == UInt8(ascii: "=") { break }
            let ok = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                || b == UInt8(ascii: "-") || b == UInt8(ascii: "_") || b == UInt8(ascii: ".") || b == UInt8(ascii: "%")
            guard ok else { return false }
            i += 1
        }
        guard i > start, i < bytes.count, bytes[i] == UInt8(ascii: "=") else { return false }
        var body = bytes[start...]
        while let last = body.last, last == 0x0A || last == 0x0D { body = body.dropLast() }
        guard !body.contains(0x0A), !body.contains(0x0D) else { return false }
        let names = body.split(separator: UInt8(ascii: "&")).map { Array($0.prefix { $0 != UInt8(ascii: "=") }) }
        return names.contains(Array("event".utf8))
    }

    private static func hex(_ b: UInt8) -> UInt8? {
        switch b {
        case 0x30...0x39: b - 0x30
        case 0x41...0x46: b - 0x41 + 10
        case 0x61...0x66: b - 0x61 + 10
        default: nil
        }
    }
}
