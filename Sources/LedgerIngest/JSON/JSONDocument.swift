import Foundation

/// One JSON text checked by ``JSONSyntax`` and read lazily (internal): the feed readers look up the
/// few members an event needs and convert only those, while every byte has been validated.
///
/// Offsets are indexes of ``bytes`` (an `ArraySlice` keeps its base's indexes, so a record sliced
/// out of a file's buffer has offsets of that buffer).
struct JSONDocument {
    /// The whole text.
    let bytes: ArraySlice<UInt8>

    /// A member of an object: its name's content (between the quotes, escapes not decoded) and its
    /// value's bytes.
    struct Member {
        var name: Range<Int>
        var nameEscaped: Bool
        var value: Range<Int>
    }

    /// Validates `bytes` as one JSON text.
    ///
    /// - Throws: ``JSONSyntaxError`` with an offset from the slice's first byte.
    /// - Parameter scratch: working arrays reused from the record before (a run of records decoded
    ///   on one thread); give them back with ``recycle(into:)``.
    init(validating bytes: ArraySlice<UInt8>, options: JSONReadOptions, scratch: JSONSyntax.Scratch? = nil) throws(JSONSyntaxError) {
        let result: Result<JSONSyntax.Index, JSONSyntaxError> = bytes.withUnsafeBufferPointer { buffer in
            Result { () throws(JSONSyntaxError) in
                try JSONSyntax.validateIndexing(buffer, origin: bytes.startIndex, options: options, scratch: scratch)
            }
        }
        index = try result.get()
        self.bytes = bytes
    }

    /// Hands the index's arrays to `scratch` for the next record (the document must not be used after).
    func recycle(into scratch: JSONSyntax.Scratch?) {
        guard let scratch else { return }
        scratch.members = index.members
        scratch.objects = index.objects
    }

    /// Every object's members, found by the validation (offsets are indexes of ``bytes``).
    private let index: JSONSyntax.Index

    /// The value's bytes, without the white space around it.
    var root: Range<Int> {
        var lo = bytes.startIndex, hi = bytes.endIndex
        while lo < hi, JSONSyntax.isWhitespace(bytes[lo]) { lo += 1 }
        while hi > lo, JSONSyntax.isWhitespace(bytes[hi - 1]) { hi -= 1 }
        return lo..<hi
    }

    /// The first byte of a value (`{`, `[`, `"`, `t`, `f`, `n`, `-` or a digit).
    func kind(_ value: Range<Int>) -> UInt8 { value.isEmpty ? 0 : bytes[value.lowerBound] }

    func isObject(_ value: Range<Int>) -> Bool { kind(value) == UInt8(ascii: "{") }
    func isNull(_ value: Range<Int>) -> Bool { kind(value) == UInt8(ascii: "n") }

    /// The members of the object at `value`, in text order (from the index the validation built: no
    /// walk of the text); `nil` when the value is no object.
    func members(_ value: Range<Int>) -> ArraySlice<Member>? {
        guard isObject(value) else { return nil }
        return index.members(ofObjectAt: value.lowerBound)
    }

    /// The elements of the array at `value`, in order; `nil` when the value is no array.
    func elements(_ value: Range<Int>) -> [Range<Int>]? {
        guard kind(value) == UInt8(ascii: "[") else { return nil }
        return bytes.withUnsafeBufferPointer { buffer -> [Range<Int>] in
            let offset = bytes.startIndex
            let walker = Walker(base: buffer.baseAddress ?? UnsafePointer(bitPattern: 1)!, count: buffer.count)
            var out: [Range<Int>] = []
            var j = walker.whitespace(value.lowerBound - offset + 1)
            while j < walker.count, buffer[j] != UInt8(ascii: "]") {
                let end = walker.endOfValue(j)
                out.append((j + offset)..<(end + offset))
                j = walker.whitespace(end)
                guard j < walker.count, buffer[j] == UInt8(ascii: ",") else { break }
                j = walker.whitespace(j + 1)
            }
            return out
        }
    }

    /// Whether the member's name is `name` (compared as UTF-8 bytes, escapes decoded).
    func nameIs(_ member: Member, _ name: String) -> Bool {
        if member.nameEscaped { return self.name(member).utf8.elementsEqual(name.utf8) }
        var name = name
        return name.withUTF8 { n in
            n.count == member.name.count && bytes[member.name].withUnsafeBufferPointer { $0.elementsEqual(n) }
        }
    }

    /// A member's name, escapes decoded.
    func name(_ member: Member) -> String {
        bytes[member.name].withUnsafeBufferPointer { JSONText.string($0) }
    }

    /// The value at `range`, converted whole (objects: last member wins for a repeated name, as
    /// `JSONSerialization`; the feed readers reject repeated names before this is reached).
    func value(_ range: Range<Int>) -> JSONValue {
        switch kind(range) {
        case UInt8(ascii: "\""):
            return .string(bytes[(range.lowerBound + 1)..<(range.upperBound - 1)].withUnsafeBufferPointer { JSONText.string($0) })
        case UInt8(ascii: "t"): return .bool(true)
        case UInt8(ascii: "f"): return .bool(false)
        case UInt8(ascii: "n"): return .null
        case UInt8(ascii: "{"):
            var o: [String: JSONValue] = [:]
            for m in members(range) ?? [] { o[name(m)] = value(m.value) }
            return .object(o)
        case UInt8(ascii: "["):
            return .array((elements(range) ?? []).map(value))
        default:
            return bytes[range].withUnsafeBufferPointer { JSONText.number($0) }
        }
    }

    /// Reads the structure of validated text: skips values without checking them again.
    struct Walker {
        let base: UnsafePointer<UInt8>
        let count: Int

        func whitespace(_ i: Int) -> Int {
            var i = i
            while i < count, JSONSyntax.isWhitespace(base[i]) { i += 1 }
            return i
        }

        /// The offset after the string at `i` (which holds `"`), and whether it holds a `\`.
        func endOfString(_ i: Int) -> (Int, Bool) {
            var j = i + 1
            var escaped = false
            while j < count {
                guard let hit = memchr(base + j, 0x22, count - j) else { return (count, escaped) }
                let q = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                var run = q
                while run > i + 1, base[run - 1] == UInt8(ascii: "\\") { run -= 1 }
                if !escaped, memchr(base + j, 0x5C, q - j) != nil { escaped = true }
                if (q - run) % 2 == 0 { return (q + 1, escaped) }
                j = q + 1
            }
            return (count, escaped)
        }

        /// The offset after the value at `i`.
        func endOfValue(_ i: Int) -> Int {
            guard i < count else { return count }
            switch base[i] {
            case UInt8(ascii: "\""): return endOfString(i).0
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                var depth = 0
                var j = i
                while j < count {
                    switch base[j] {
                    case UInt8(ascii: "\""): j = endOfString(j).0; continue
                    case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                    case UInt8(ascii: "}"), UInt8(ascii: "]"):
                        depth -= 1
                        if depth == 0 { return j + 1 }
                    default: break
                    }
                    j += 1
                }
                return count
            default:
                var j = i
                while j < count {
                    let b = base[j]
                    if b == UInt8(ascii: ",") || b == UInt8(ascii: "}") || b == UInt8(ascii: "]") || JSONSyntax.isWhitespace(b) { break }
                    j += 1
                }
                return j
            }
        }
    }
}
