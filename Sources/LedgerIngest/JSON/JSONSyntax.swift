import Foundation

/// The strict RFC 8259 checker of the JSON readers (internal): one pass over the bytes, no
/// allocation per value, every fault located by byte offset.
///
/// What it accepts is exactly RFC 8259's grammar (§2–§7) over UTF-8 (§8.1), with these decisions
/// where the RFC leaves a choice (JSONTestSuite's `i_` cases; each is a test):
/// - **Encoding**: UTF-8 only, validated as RFC 3629 / Unicode Table 3-7 define it: overlong forms,
///   surrogates encoded in UTF-8 (`ED A0 80`), code points beyond U+10FFFF, stray continuation bytes
///   and cut sequences are errors. UTF-16 and Latin-1 texts are therefore refused. A byte order mark
///   is not JSON (§8.1 "MUST NOT add"); the feed readers skip one at the start of a file, this
///   checker does not.
/// - **`\u` escapes**: a high surrogate (`\uD800`–`\uDBFF`) must be followed at once by a `\u` low
///   surrogate (`\uDC00`–`\uDFFF`), and a low surrogate must follow a high one. A lone surrogate
///   (§8.2: such a string's behaviour is "unpredictable") cannot be held by a Swift `String` nor
///   stored as UTF-8, so it is an error rather than a silently replaced character (Foundation's
///   `JSONSerialization` refuses it too).
/// - **Numbers**: any length is accepted; an integer that fits `Int64` is exact, every other number
///   is the nearest `Double`. A number whose magnitude is beyond `Double`'s range (`1e400`) is an error
///   (§9 lets a parser limit the range; `JSONSerialization` refuses it too); one too small
///   (`1e-400`) reads as 0.
/// - **Nesting**: at most ``JSONReadOptions/maximumDepth`` (512) arrays and objects deep (§9).
/// - **Duplicate member names**: see ``JSONReadOptions/rejectDuplicateNames``.
struct JSONSyntax {
    private let base: UnsafePointer<UInt8>
    private let count: Int
    private let options: JSONReadOptions
    /// The names of the members of the objects being read, innermost object last (duplicates check).
    private var names: [Name] = []
    /// Unescaped names (only names holding `\` escapes are copied here).
    private var unescaped: [UInt8] = []
    /// Open-addressing table for objects with many members.
    private var table: [Int32] = []
    /// The first name index of the object `table` was built for (an inner object may have rebuilt it).
    private var tableOwner = -1
    /// The member index being built (``validateIndexing(_:options:)``), `nil` when not asked.
    private var index: Index?
    /// Added to the offsets the index holds.
    private var origin = 0
    /// Members of the objects still open, innermost last (moved to `index` when their object closes).
    private var openMembers: [JSONDocument.Member] = []

    /// Every object's members, found while validating (internal): offsets from the text's first byte
    /// plus the origin given to ``validateIndexing(_:origin:options:)``.
    /// Objects are in text order of their `{` (a pre-order walk), so one is found by binary search.
    struct Index {
        /// The members of every object, each object's members together and in text order.
        var members: [JSONDocument.Member] = []
        /// Per object: the offset of its `{` and its members' range in ``members``.
        var objects: [(start: Int, members: Range<Int>)] = []

        /// The members of the object whose `{` is at `start`; `nil` when no object starts there.
        func members(ofObjectAt start: Int) -> ArraySlice<JSONDocument.Member>? {
            var lo = 0, hi = objects.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if objects[mid].start < start { lo = mid + 1 } else { hi = mid }
            }
            guard lo < objects.count, objects[lo].start == start else { return nil }
            return members[objects[lo].members]
        }
    }

    fileprivate struct Name {
        var start: Int
        var end: Int
        var inUnescaped: Bool
        /// ``fingerprint(_:)`` of the name's bytes.
        var hash: UInt64
        var offset: Int
    }

    private init(_ buffer: UnsafeBufferPointer<UInt8>, options: JSONReadOptions) {
        self.base = buffer.baseAddress ?? UnsafePointer(bitPattern: 1)!
        self.count = buffer.count
        self.options = options
    }

    /// Checks that `bytes` hold exactly one JSON text (RFC 8259 §2: white space, one value, white space).
    ///
    /// - Throws: ``JSONSyntaxError`` locating the first fault, offsets counted from `bytes`' first byte.
    static func validate(_ bytes: UnsafeBufferPointer<UInt8>, options: JSONReadOptions = JSONReadOptions()) throws(JSONSyntaxError) {
        var checker = JSONSyntax(bytes, options: options)
        try checker.wholeText()
    }

    /// Reads the whole buffer as one JSON text: white space, one value, white space.
    private mutating func wholeText() throws(JSONSyntaxError) {
        var j = skipWhitespace(0)
        guard j < count else {
            throw JSONSyntaxError(message: "truncated JSON: no value (the text is empty or white space)", offset: j)
        }
        j = try value(j, depth: 0)
        j = skipWhitespace(j)
        guard j == count else {
            throw JSONSyntaxError(message: "malformed JSON: \(JSONSyntax.describe(base[j])) after the end of the JSON value", offset: j)
        }
    }

    /// Checks that `bytes` hold exactly one JSON text, as ``validate(_:options:)-(UnsafeBufferPointer<UInt8>,_)``,
    /// and returns the members of each of its objects, so that a reader looks members up without
    /// walking the text again. `origin` is added to the index's offsets (not to the error's).
    static func validateIndexing(_ bytes: UnsafeBufferPointer<UInt8>, origin: Int, options: JSONReadOptions,
                                 scratch: Scratch? = nil) throws(JSONSyntaxError) -> Index {
        var checker = JSONSyntax(bytes, options: options)
        var index = Index()
        if let scratch {
            // A run of records reuses the arrays of the record before (no allocation per record).
            swap(&checker.names, &scratch.names)
            swap(&checker.unescaped, &scratch.unescaped)
            swap(&checker.openMembers, &scratch.openMembers)
            swap(&index.members, &scratch.members)
            swap(&index.objects, &scratch.objects)
            checker.names.removeAll(keepingCapacity: true)
            checker.unescaped.removeAll(keepingCapacity: true)
            checker.openMembers.removeAll(keepingCapacity: true)
            index.members.removeAll(keepingCapacity: true)
            index.objects.removeAll(keepingCapacity: true)
        }
        // Room for a webhook event's members and names from the start (a SparkPost element has 30 to
        // 60), so that the arrays do not grow step by step for every record.
        index.members.reserveCapacity(64)
        index.objects.reserveCapacity(8)
        checker.openMembers.reserveCapacity(64)
        checker.names.reserveCapacity(64)
        checker.index = index
        checker.origin = origin
        defer {
            if let scratch {
                swap(&checker.names, &scratch.names)
                swap(&checker.unescaped, &scratch.unescaped)
                swap(&checker.openMembers, &scratch.openMembers)
            }
        }
        try checker.wholeText()
        return checker.index.take()!
    }

    /// The working arrays of ``validateIndexing(_:origin:options:scratch:)``, kept from one record to
    /// the next by a reader decoding a run of records on one thread (not shared between threads).
    /// A document's index goes back into it with ``JSONDocument/recycle(into:)``.
    final class Scratch {
        fileprivate var names: [Name] = []
        fileprivate var unescaped: [UInt8] = []
        fileprivate var openMembers: [JSONDocument.Member] = []
        var members: [JSONDocument.Member] = []
        var objects: [(start: Int, members: Range<Int>)] = []
        init() {}
    }

    /// Checks that `bytes` hold one JSON text; offsets in the error count from the slice's first byte.
    static func validate(_ bytes: ArraySlice<UInt8>, options: JSONReadOptions = JSONReadOptions()) throws(JSONSyntaxError) {
        let result: Result<Void, JSONSyntaxError> = bytes.withUnsafeBufferPointer { buffer in
            Result { () throws(JSONSyntaxError) in try validate(buffer, options: options) }
        }
        try result.get()
    }

    /// Checks the one value that starts at `i` (no white space before it) in `bytes`.
    ///
    /// - Returns: the offset just after the value.
    /// - Throws: ``JSONSyntaxError`` with an offset from `bytes`' first byte.
    static func validateValue(_ bytes: [UInt8], at i: Int, options: JSONReadOptions = JSONReadOptions()) throws(JSONSyntaxError) -> Int {
        let result: Result<Int, JSONSyntaxError> = bytes.withUnsafeBufferPointer { buffer in
            var checker = JSONSyntax(buffer, options: options)
            return Result { () throws(JSONSyntaxError) in try checker.value(i, depth: 0) }
        }
        return try result.get()
    }

    /// How a byte is named in messages: `'x'` for printable ASCII, `byte 0xNN` otherwise.
    static func describe(_ b: UInt8) -> String {
        if b >= 0x21 && b < 0x7F { return "'\(Character(Unicode.Scalar(b)))'" }
        if b == 0x20 { return "a space" }
        let hex = Array("0123456789ABCDEF".utf8)
        return "byte 0x" + String(decoding: [hex[Int(b >> 4)], hex[Int(b & 0xF)]], as: UTF8.self)
    }

    static func isWhitespace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }

    @inline(__always)
    private func skipWhitespace(_ i: Int) -> Int {
        var i = i
        while i < count, JSONSyntax.isWhitespace(base[i]) { i += 1 }
        return i
    }

    private func malformed(_ offset: Int, _ message: String) -> JSONSyntaxError {
        JSONSyntaxError(message: "malformed JSON: " + message, offset: offset)
    }

    private func truncated(_ offset: Int, _ message: String) -> JSONSyntaxError {
        JSONSyntaxError(message: "truncated JSON: " + message, offset: offset)
    }

    /// The offset just after the value starting at `i` (white space already skipped).
    private mutating func value(_ i: Int, depth: Int) throws(JSONSyntaxError) -> Int {
        guard i < count else { throw truncated(i, "a value is missing") }
        switch base[i] {
        case UInt8(ascii: "\""): return try string(i).end
        case UInt8(ascii: "{"): return try object(i, depth: depth + 1)
        case UInt8(ascii: "["): return try array(i, depth: depth + 1)
        case UInt8(ascii: "t"): return try literal(i, "true")
        case UInt8(ascii: "f"): return try literal(i, "false")
        case UInt8(ascii: "n"): return try literal(i, "null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number(i)
        case UInt8(ascii: "]"), UInt8(ascii: "}"): throw malformed(i, "a value is missing before \(JSONSyntax.describe(base[i]))")
        case UInt8(ascii: ","): throw malformed(i, "a value is missing before ','")
        default: throw malformed(i, "\(JSONSyntax.describe(base[i])) cannot start a JSON value")
        }
    }

    private func literal(_ i: Int, _ word: StaticString) throws(JSONSyntaxError) -> Int {
        let n = word.utf8CodeUnitCount
        let w = word.utf8Start
        for k in 0..<n {
            guard i + k < count else { throw truncated(i + k, "'\(word)' is cut short") }
            guard base[i + k] == w[k] else { throw malformed(i + k, "\(JSONSyntax.describe(base[i + k])) where '\(word)' was expected") }
        }
        return i + n
    }

    @inline(__always)
    private func isDigit(_ j: Int) -> Bool { j < count && base[j] >= 0x30 && base[j] <= 0x39 }

    /// RFC 8259 §6: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    private func number(_ i: Int) throws(JSONSyntaxError) -> Int {
        var j = i
        if base[j] == UInt8(ascii: "-") { j += 1 }
        guard j < count else { throw truncated(j, "a number ends after '-'") }
        if base[j] == UInt8(ascii: "0") {
            j += 1
            if isDigit(j) { throw malformed(i, "a number has a leading zero (RFC 8259 §6)") }
        } else if isDigit(j) {
            while isDigit(j) { j += 1 }
        } else {
            throw malformed(j, "\(JSONSyntax.describe(base[j])) where a digit was expected in a number")
        }
        var exponent = false
        if j < count, base[j] == UInt8(ascii: ".") {
            j += 1
            guard j < count else { throw truncated(j, "a number ends after '.'") }
            guard isDigit(j) else { throw malformed(j, "a digit must follow '.' in a number") }
            while isDigit(j) { j += 1 }
        }
        if j < count, base[j] == UInt8(ascii: "e") || base[j] == UInt8(ascii: "E") {
            exponent = true
            j += 1
            if j < count, base[j] == UInt8(ascii: "+") || base[j] == UInt8(ascii: "-") { j += 1 }
            guard j < count else { throw truncated(j, "a number ends in its exponent") }
            guard isDigit(j) else { throw malformed(j, "a digit must follow the exponent mark in a number") }
            while isDigit(j) { j += 1 }
        }
        if exponent || j - i > 300 {
            let text = String(decoding: UnsafeBufferPointer(start: base + i, count: j - i), as: UTF8.self)
            guard let d = Double(text), d.isFinite else {
                throw malformed(i, "the number \(text.prefix(40)) is beyond the range of a 64-bit floating-point number")
            }
        }
        return j
    }

    /// Reads the string starting at `i` (which holds `"`): the offset after its closing quote, and
    /// whether it holds escapes.
    private func string(_ i: Int) throws(JSONSyntaxError) -> (end: Int, escaped: Bool) {
        var j = i + 1
        var escaped = false
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let raw = UnsafeRawPointer(base)
        while true {
            // Eight bytes at a time while none is a quote, a backslash, a control or a non-ASCII byte.
            while j + 8 <= count {
                let w = raw.loadUnaligned(fromByteOffset: j, as: UInt64.self)
                let q = w ^ (ones &* 0x22)
                let s = w ^ (ones &* 0x5C)
                let special = ((q &- ones) & ~q) | ((s &- ones) & ~s) | ((w &- ones &* 0x20) & ~w) | w
                if special & highs != 0 { break }
                j += 8
            }
            guard j < count else { throw truncated(i, "a string is not closed") }
            let b = base[j]
            if b == UInt8(ascii: "\"") { return (j + 1, escaped) }
            if b == UInt8(ascii: "\\") {
                escaped = true
                j = try escape(j)
            } else if b < 0x20 {
                throw malformed(j, "control character \(JSONSyntax.describe(b)) in a string: it must be written as an escape (RFC 8259 §7)")
            } else if b >= 0x80 {
                j = try utf8Sequence(j)
            } else {
                j += 1
            }
        }
    }

    private func hex4(_ j: Int) throws(JSONSyntaxError) -> UInt32 {
        var v: UInt32 = 0
        for k in 0..<4 {
            guard j + k < count else { throw truncated(j + k, "a \\u escape is cut short") }
            let c = base[j + k]
            let d: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - 0x30
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - 0x61 + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - 0x41 + 10
            default: throw malformed(j + k, "\(JSONSyntax.describe(c)) in a \\u escape: four hexadecimal digits are needed")
            }
            v = v << 4 | UInt32(d)
        }
        return v
    }

    /// The offset after the escape starting at `j` (which holds `\`).
    private func escape(_ j: Int) throws(JSONSyntaxError) -> Int {
        guard j + 1 < count else { throw truncated(j, "a string ends inside an escape") }
        switch base[j + 1] {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
             UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            return j + 2
        case UInt8(ascii: "u"):
            let u = try hex4(j + 2)
            if u >= 0xDC00 && u <= 0xDFFF {
                throw malformed(j, "lone low surrogate \\u\(hexText(u)): it must follow a high surrogate (RFC 8259 §7)")
            }
            guard u >= 0xD800 && u <= 0xDBFF else { return j + 6 }
            guard j + 7 < count, base[j + 6] == UInt8(ascii: "\\"), base[j + 7] == UInt8(ascii: "u") else {
                if j + 7 >= count { throw truncated(j + 6, "a string ends after a high surrogate escape") }
                throw malformed(j, "lone high surrogate \\u\(hexText(u)): a \\u low surrogate must follow it (RFC 8259 §7)")
            }
            let low = try hex4(j + 8)
            guard low >= 0xDC00 && low <= 0xDFFF else {
                throw malformed(j, "lone high surrogate \\u\(hexText(u)): \\u\(hexText(low)) is not a low surrogate (RFC 8259 §7)")
            }
            return j + 12
        default:
            throw malformed(j, "\\\(JSONSyntax.describe(base[j + 1]).trimmingQuotes) is not a JSON escape (RFC 8259 §7: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)")
        }
    }

    private func hexText(_ u: UInt32) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        return String(decoding: (0..<4).map { hex[Int((u >> (12 - 4 * UInt32($0))) & 0xF)] }, as: UTF8.self)
    }

    /// The offset after the UTF-8 sequence starting at `j` (a byte ≥ 0x80), checked against
    /// Unicode's Table 3-7 (well-formed UTF-8 byte sequences; RFC 3629 §4).
    private func utf8Sequence(_ j: Int) throws(JSONSyntaxError) -> Int {
        let b0 = base[j]
        var length = 0
        var lo: UInt8 = 0x80, hi: UInt8 = 0xBF
        switch b0 {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; lo = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; hi = 0x9F
        case 0xF0: length = 4; lo = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; hi = 0x8F
        default:
            throw JSONSyntaxError(message: "not valid UTF-8: \(JSONSyntax.describe(b0)) cannot start a character (RFC 3629)", offset: j)
        }
        for k in 1..<length {
            guard j + k < count else {
                throw JSONSyntaxError(message: "not valid UTF-8: a character is cut short (RFC 3629)", offset: j)
            }
            let b = base[j + k]
            let (l, h) = k == 1 ? (lo, hi) : (UInt8(0x80), UInt8(0xBF))
            guard b >= l && b <= h else {
                throw JSONSyntaxError(message: "not valid UTF-8: \(JSONSyntax.describe(b)) after \(JSONSyntax.describe(b0)) (RFC 3629)", offset: j + k)
            }
        }
        return j + length
    }

    private mutating func array(_ i: Int, depth: Int) throws(JSONSyntaxError) -> Int {
        guard depth <= options.maximumDepth else {
            throw malformed(i, "nested deeper than \(options.maximumDepth) arrays and objects")
        }
        var j = skipWhitespace(i + 1)
        if j < count, base[j] == UInt8(ascii: "]") { return j + 1 }
        while true {
            j = try value(j, depth: depth)
            j = skipWhitespace(j)
            guard j < count else { throw truncated(j, "the '[' \(j - i) bytes before is not closed") }
            if base[j] == UInt8(ascii: "]") { return j + 1 }
            guard base[j] == UInt8(ascii: ",") else {
                throw malformed(j, "\(JSONSyntax.describe(base[j])) where ',' or ']' was expected after an array element")
            }
            j = skipWhitespace(j + 1)
            if j < count, base[j] == UInt8(ascii: "]") { throw malformed(j, "trailing comma before ']' (RFC 8259 §5)") }
        }
    }

    private mutating func object(_ i: Int, depth: Int) throws(JSONSyntaxError) -> Int {
        guard depth <= options.maximumDepth else {
            throw malformed(i, "nested deeper than \(options.maximumDepth) arrays and objects")
        }
        // The object's slot in the index is taken at its `{`, so that objects stay in text order.
        let slot = index?.objects.count ?? 0
        index?.objects.append((start: i + origin, members: 0..<0))
        var j = skipWhitespace(i + 1)
        if j < count, base[j] == UInt8(ascii: "}") { return j + 1 }
        let firstOpen = openMembers.count
        let firstName = names.count
        let firstUnescaped = unescaped.count
        defer {
            names.removeSubrange(firstName...)
            unescaped.removeSubrange(firstUnescaped...)
            if tableOwner >= firstName { tableOwner = -1 }
        }
        while true {
            guard j < count else { throw truncated(j, "the '{' \(j - i) bytes before is not closed") }
            guard base[j] == UInt8(ascii: "\"") else {
                throw malformed(j, "\(JSONSyntax.describe(base[j])) where a member name in double quotes was expected")
            }
            let j0 = j
            let (nameEnd, escaped) = try string(j)
            if options.rejectDuplicateNames { try record(name: j + 1..<nameEnd - 1, escaped: escaped, from: firstName) }
            j = skipWhitespace(nameEnd)
            guard j < count else { throw truncated(j, "the '{' \(j - i) bytes before is not closed") }
            guard base[j] == UInt8(ascii: ":") else {
                throw malformed(j, "\(JSONSyntax.describe(base[j])) where ':' was expected after a member name")
            }
            let valueStart = skipWhitespace(j + 1)
            j = try value(valueStart, depth: depth)
            if index != nil {
                openMembers.append(JSONDocument.Member(name: (j0 + 1 + origin)..<(nameEnd - 1 + origin), nameEscaped: escaped,
                                                       value: (valueStart + origin)..<(j + origin)))
            }
            j = skipWhitespace(j)
            guard j < count else { throw truncated(j, "the '{' \(j - i) bytes before is not closed") }
            if base[j] == UInt8(ascii: "}") {
                if index != nil {
                    let lo = index!.members.count
                    index!.members.append(contentsOf: openMembers[firstOpen...])
                    index!.objects[slot].members = lo..<index!.members.count
                    openMembers.removeSubrange(firstOpen...)
                }
                return j + 1
            }
            guard base[j] == UInt8(ascii: ",") else {
                throw malformed(j, "\(JSONSyntax.describe(base[j])) where ',' or '}' was expected after a member")
            }
            j = skipWhitespace(j + 1)
            if j < count, base[j] == UInt8(ascii: "}") { throw malformed(j, "trailing comma before '}' (RFC 8259 §4)") }
        }
    }

    // MARK: Duplicate names

    private func bytes(of name: Name) -> UnsafeBufferPointer<UInt8> {
        if name.inUnescaped {
            return unescaped.withUnsafeBufferPointer { UnsafeBufferPointer(rebasing: $0[name.start..<name.end]) }
        }
        return UnsafeBufferPointer(start: base + name.start, count: name.end - name.start)
    }

    private func same(_ a: Name, _ b: Name) -> Bool {
        a.hash == b.hash && sameBytes(a, b)
    }

    private func sameBytes(_ a: Name, _ b: Name) -> Bool {
        guard a.end - a.start == b.end - b.start else { return false }
        if !a.inUnescaped && !b.inUnescaped {
            return memcmp(base + a.start, base + b.start, a.end - a.start) == 0
        }
        return unescaped.withUnsafeBufferPointer { u in
            func slice(_ n: Name) -> UnsafeBufferPointer<UInt8> {
                n.inUnescaped ? UnsafeBufferPointer(rebasing: u[n.start..<n.end]) : UnsafeBufferPointer(start: base + n.start, count: n.end - n.start)
            }
            return slice(a).elementsEqual(slice(b))
        }
    }

    /// Adds a member name of the object whose names start at `first`, failing on a duplicate.
    private mutating func record(name content: Range<Int>, escaped: Bool, from first: Int) throws(JSONSyntaxError) {
        var name: Name
        if escaped {
            let start = unescaped.count
            JSONText.unescape(UnsafeBufferPointer(start: base + content.lowerBound, count: content.count), into: &unescaped)
            name = Name(start: start, end: unescaped.count, inUnescaped: true, hash: 0, offset: content.lowerBound - 1)
        } else {
            name = Name(start: content.lowerBound, end: content.upperBound, inUnescaped: false, hash: 0, offset: content.lowerBound - 1)
        }
        name.hash = JSONSyntax.fingerprint(bytes(of: name))
        let n = names.count - first
        if n < 16 {
            // A small object (nearly all): its names' fingerprints compared one by one.
            for k in first..<names.count where same(names[k], name) { throw duplicate(name) }
        } else {
            // Rebuild a hash table of this object's names each time it doubles; probe it otherwise.
            if tableOwner != first || (n + 1) * 2 > table.count {
                let newSize = max(64, (n * 4).nextPowerOfTwo)
                table = [Int32](repeating: -1, count: newSize)
                for k in first..<names.count { insert(k, size: newSize) }
                tableOwner = first
            }
            var slot = JSONSyntax.slot(name.hash, size: table.count)
            while table[slot] >= 0 {
                if same(names[Int(table[slot])], name) { throw duplicate(name) }
                slot = (slot + 1) & (table.count - 1)
            }
        }
        names.append(name)
        if n >= 16 { insert(names.count - 1, size: table.count) }
    }

    /// A name's 64-bit fingerprint: every byte, eight at a time (the last word overlapping), mixed
    /// with the length and a per-process random key. Equal names have equal fingerprints; names with
    /// equal fingerprints are compared byte for byte. All bytes count, and the key is unknown to the
    /// sender: names that differ only in their middle bytes (a breaker's object of 37,000 names with
    /// the same first and last eight bytes, when only those were mixed) no longer share a slot, which
    /// made the duplicate check quadratic (5 s for one 1 MB element).
    static func fingerprint(_ b: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h = fingerprintKey ^ (UInt64(b.count) &* 0x9E37_79B9_7F4A_7C15)
        guard let p = b.baseAddress else { return h }
        let raw = UnsafeRawPointer(p)
        if b.count < 8 {
            var w: UInt64 = 0
            for k in 0..<b.count { w |= UInt64(p[k]) << (8 * UInt64(k)) }
            return mix(h ^ w)
        }
        var i = 0
        while i + 8 < b.count {
            h = mix(h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            i += 8
        }
        return mix(h ^ raw.loadUnaligned(fromByteOffset: b.count - 8, as: UInt64.self))
    }

    /// A random key drawn once per process (``fingerprint(_:)``).
    private static let fingerprintKey = UInt64.random(in: .min ... .max)

    /// A 64-bit finaliser (MurmurHash3's fmix64): every input bit changes about half the output bits.
    @inline(__always)
    private static func mix(_ x: UInt64) -> UInt64 {
        var h = x
        h ^= h >> 33
        h = h &* 0xFF51_AFD7_ED55_8CCD
        h ^= h >> 33
        h = h &* 0xC4CE_B9FE_1A85_EC53
        h ^= h >> 33
        return h
    }

    /// A fingerprint's first slot in a table of `size` (a power of two) slots.
    private static func slot(_ hash: UInt64, size: Int) -> Int {
        Int(truncatingIfNeeded: hash >> 32) & (size - 1)
    }

    private mutating func insert(_ k: Int, size: Int) {
        var slot = JSONSyntax.slot(names[k].hash, size: size)
        while table[slot] >= 0 { slot = (slot + 1) & (size - 1) }
        table[slot] = Int32(k)
    }

    private func duplicate(_ name: Name) -> JSONSyntaxError {
        let text = String(decoding: bytes(of: name), as: UTF8.self)
        return malformed(name.offset, "duplicate member name \(JSONValue.quoted(text)) in one object (RFC 8259 §4: names should be unique; the ledger refuses to guess which one the sender meant)")
    }
}

private extension String {
    var trimmingQuotes: String {
        hasPrefix("'") && hasSuffix("'") && count >= 3 ? String(dropFirst().dropLast()) : self
    }
}

extension Int {
    /// The smallest power of two at or above `self` (≥ 1).
    var nextPowerOfTwo: Int {
        var p = 1
        while p < self { p <<= 1 }
        return p
    }
}
