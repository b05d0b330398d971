import Foundation

/// A byte-level JSON structure scanner (internal).
///
/// It finds where values begin and end without decoding them: strings (with their `\` escapes)
/// and nesting of `{}` / `[]` are tracked; scalars (numbers, `true`, `false`, `null`) are skipped up
/// to the next structural byte and left for the decoder to judge. This lets the SparkPost reader
/// keep every element's exact bytes (`Event.raw`, reject files) and decode elements one by one.
struct JSONScanner {
    /// Why the structure could not be followed, and the offset where that was noticed.
    struct Failure: Error {
        var message: String
        var offset: Int
        /// Where the bytes that cannot be read start (a rejected record's first byte), when that is
        /// before `offset`.
        var recordStart: Int? = nil
    }

    let bytes: [UInt8]

    static let quote = UInt8(ascii: "\"")
    static let backslash = UInt8(ascii: "\\")
    static let openBrace = UInt8(ascii: "{")
    static let closeBrace = UInt8(ascii: "}")
    static let openBracket = UInt8(ascii: "[")
    static let closeBracket = UInt8(ascii: "]")
    static let comma = UInt8(ascii: ",")
    static let colon = UInt8(ascii: ":")

    static func isWhitespace(_ b: UInt8) -> Bool {
        b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09
    }

    /// The first offset at or after `i` that is not JSON white space (or `bytes.count`).
    func skipWhitespace(_ i: Int) -> Int {
        var i = i
        while i < bytes.count, JSONScanner.isWhitespace(bytes[i]) { i += 1 }
        return i
    }

    /// The offset just after the string starting at `i` (which holds `"`).
    ///
    /// Jumps from quote to quote (`memchr`): a quote closes the string unless the run of backslashes
    /// right before it (inside the string) is odd, i.e. its last backslash escapes it. This is the
    /// same as reading the string byte by byte with every `\` taking the next byte, without touching
    /// each byte in Swift (strings are most of a webhook batch's bytes).
    func endOfString(_ i: Int) throws(Failure) -> Int {
        let end = bytes.withUnsafeBufferPointer { buffer -> Int? in
            guard let base = buffer.baseAddress else { return nil }
            var j = i + 1
            while j < buffer.count {
                guard let hit = memchr(base + j, Int32(JSONScanner.quote), buffer.count - j) else { return nil }
                let quoteAt = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                var runStart = quoteAt
                while runStart > i + 1, base[runStart - 1] == JSONScanner.backslash { runStart -= 1 }
                if (quoteAt - runStart) % 2 == 0 { return quoteAt + 1 }
                j = quoteAt + 1
            }
            return nil
        }
        guard let end else { throw Failure(message: "truncated JSON: a string is not closed", offset: i) }
        return end
    }

    /// The offset after the array or object whose opening byte is at `i`, found without validating
    /// it (``JSONSyntax`` does that): strings are skipped (a backslash escapes the next byte), and
    /// brackets and braces must nest. Inside a string, eight bytes are looked at a time while none is
    /// `"` or `\`.
    static func endOfContainer(_ buffer: UnsafeBufferPointer<UInt8>, at i: Int) -> Result<Int, Failure> {
        guard let base = buffer.baseAddress else { return .failure(Failure(message: "truncated JSON: a value is missing", offset: i)) }
        let count = buffer.count
        let raw = UnsafeRawPointer(base)
        let first = base[i]
        var closers: [UInt8] = [first == openBrace ? closeBrace : closeBracket]
        let ones: UInt64 = 0x0101_0101_0101_0101
        @inline(__always) func has(_ w: UInt64, _ c: UInt8) -> UInt64 {
            let x = w ^ (ones &* UInt64(c))
            return (x &- ones) & ~x & 0x8080_8080_8080_8080
        }
        var j = i + 1
        while j < count {
            let b = base[j]
            if b == quote {
                // Skip the string: eight bytes at a time up to the next `"` or `\`.
                var k = j + 1
                while true {
                    while k + 8 <= count {
                        let w = raw.loadUnaligned(fromByteOffset: k, as: UInt64.self)
                        let m = has(w, quote) | has(w, backslash)
                        if m != 0 { k += m.trailingZeroBitCount >> 3; break }  // the lowest flagged byte is a true match
                        k += 8
                    }
                    guard k < count else { return .failure(Failure(message: "truncated JSON: a string is not closed", offset: j)) }
                    let c = base[k]
                    if c == quote { break }
                    k += c == backslash ? 2 : 1
                }
                j = k + 1
                continue
            }
            if b == openBrace {
                closers.append(closeBrace)
            } else if b == openBracket {
                closers.append(closeBracket)
            } else if b == closeBrace || b == closeBracket {
                guard closers.last == b else {
                    return .failure(Failure(message: "malformed JSON: '\(Character(Unicode.Scalar(b)))' does not close the open '\(closers.last == closeBrace ? "{" : "[")'", offset: i))
                }
                closers.removeLast()
                if closers.isEmpty { return .success(j + 1) }
            }
            j += 1
        }
        return .failure(Failure(message: "truncated JSON: '\(Character(Unicode.Scalar(first)))' is not closed", offset: i))
    }

    /// The offset just after the value starting at `i`.
    func endOfValue(_ i: Int) throws(Failure) -> Int {
        guard i < bytes.count else { throw Failure(message: "truncated JSON: a value is missing", offset: i) }
        let first = bytes[i]
        if first == JSONScanner.quote { return try endOfString(i) }
        if first == JSONScanner.openBrace || first == JSONScanner.openBracket {
            let scan = bytes.withUnsafeBufferPointer { buffer -> Result<Int, Failure> in
                JSONScanner.endOfContainer(buffer, at: i)
            }
            return try scan.get()
        }
        // A scalar: up to the next structural byte or white space.
        var j = i
        while j < bytes.count {
            let b = bytes[j]
            if b == JSONScanner.comma || b == JSONScanner.closeBrace || b == JSONScanner.closeBracket
                || b == JSONScanner.colon || b == JSONScanner.openBrace || b == JSONScanner.openBracket
                || b == JSONScanner.quote || JSONScanner.isWhitespace(b) { break }
            j += 1
        }
        guard j > i else {
            throw Failure(message: "malformed JSON: unexpected '\(Character(Unicode.Scalar(first)))'", offset: i)
        }
        return j
    }

    /// The elements of the array starting at `i` (which holds `[`), one by one.
    ///
    /// - Returns: the element ranges found, the offset just after `]` when the array is whole, and
    ///   the structural failure that stopped the scan otherwise (its offset is where the reader lost
    ///   track: the start of a cut element, or the stray byte between elements).
    func elements(ofArrayAt i: Int) -> (elements: [Range<Int>], end: Int?, failure: Failure?) {
        var out: [Range<Int>] = []
        var j = skipWhitespace(i + 1)
        if j < bytes.count, bytes[j] == JSONScanner.closeBracket { return (out, j + 1, nil) }
        while true {
            guard j < bytes.count else {
                return (out, nil, Failure(message: "truncated JSON: the array is not closed with ']'", offset: j))
            }
            let end: Int
            do { end = try endOfValue(j) } catch {
                // Named where the fault is (an unclosed string: where it opens); the rejected record
                // starts with its element.
                return (out, nil, Failure(message: error.message, offset: error.offset, recordStart: j))
            }
            out.append(j..<end)
            j = skipWhitespace(end)
            guard j < bytes.count else {
                return (out, nil, Failure(message: "truncated JSON: the array is not closed with ']'", offset: j))
            }
            if bytes[j] == JSONScanner.closeBracket { return (out, j + 1, nil) }
            guard bytes[j] == JSONScanner.comma else {
                return (out, nil, Failure(message: "malformed JSON: expected ',' or ']' after an element", offset: j))
            }
            j = skipWhitespace(j + 1)
            if j < bytes.count, bytes[j] == JSONScanner.closeBracket {
                return (out, nil, Failure(message: "malformed JSON: trailing comma before ']' (RFC 8259 §5)", offset: j))
            }
        }
    }

    /// A member name's text: plain bytes as UTF-8, or the JSON decoder's reading when it has escapes.
    static func decodeKey(_ raw: ArraySlice<UInt8>) -> String {
        if !raw.contains(backslash) { return String(decoding: raw, as: UTF8.self) }
        var quoted: [UInt8] = [quote]
        quoted.append(contentsOf: raw)
        quoted.append(quote)
        if case .string(let s)? = try? JSONValue.decode(quoted[...]) { return s }
        return String(decoding: raw, as: UTF8.self)
    }
}
