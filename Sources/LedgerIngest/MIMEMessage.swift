import Foundation

// A small, defensive RFC 5322 / MIME reader for bounce messages (internal to LedgerIngest).
//
// Everything here works on bytes, never trusts the input, and caps what it does: header count and
// length, nesting depth, part count. It never throws: problems are recorded as `MIMEEntity.defects`
// and the caller (DSNReader) decides whether they are fatal.

/// One header field, unfolded (RFC 5322 §2.2.3: CRLF before white space removed).
struct MIMEField: Sendable, Hashable {
    /// The name as written (compare with ``MIMEHeaders`` lookups, which ignore case).
    var name: String
    /// The unfolded value, without leading white space; raw (no RFC 2047 decoding).
    var value: String
}

/// A header block: the fields in order, looked up case-insensitively.
struct MIMEHeaders: Sendable {
    var fields: [MIMEField] = []

    /// The first field named `name` (case-insensitive), if any.
    subscript(_ name: String) -> String? {
        let key = name.lowercased()
        return fields.first { $0.name.lowercased() == key }?.value
    }

    /// Every field named `name`, in order.
    func all(_ name: String) -> [String] {
        let key = name.lowercased()
        return fields.filter { $0.name.lowercased() == key }.map(\.value)
    }

    /// Whether any field is named `name`.
    func has(_ name: String) -> Bool { self[name] != nil }
}

/// A parsed `Content-Type` value (RFC 2045 §5.1).
struct MIMEContentType: Sendable, Hashable {
    /// Lower-cased `type/subtype`, e.g. `multipart/report`.
    var mimeType: String
    /// Parameters, names lower-cased, values unquoted.
    var parameters: [String: String]

    var type: String { String(mimeType.split(separator: "/", maxSplits: 1).first ?? "") }
    var subtype: String { mimeType.split(separator: "/", maxSplits: 1).count == 2 ? String(mimeType.split(separator: "/", maxSplits: 1)[1]) : "" }
    var isMultipart: Bool { type == "multipart" }

    static let textPlain = MIMEContentType(mimeType: "text/plain", parameters: [:])

    /// Parses `type/subtype; name=value; name="quoted"` leniently: comments in parentheses are
    /// dropped, a missing subtype or garbage gives `text/plain` (RFC 2045 §5.2 default).
    init(_ text: String) {
        var scalars = Array(MIME.removingComments(text).unicodeScalars)[...]
        func skipSpace() { while let c = scalars.first, c == " " || c == "\t" || c == "\r" || c == "\n" { scalars.removeFirst() } }
        func token() -> String {
            var s = String.UnicodeScalarView()
            while let c = scalars.first, c != ";", c != "=", c != " ", c != "\t", c != "\"" , c != "\r", c != "\n" {
                s.append(c); scalars.removeFirst()
            }
            return String(s)
        }
        skipSpace()
        let t = token().lowercased()
        mimeType = t.contains("/") && !t.hasPrefix("/") && !t.hasSuffix("/") ? t : "text/plain"
        parameters = [:]
        var guardCount = 0
        while !scalars.isEmpty, guardCount < 64 {
            guardCount += 1
            skipSpace()
            guard scalars.first == ";" else {
                // Junk between parameters: skip to the next ';'.
                while let c = scalars.first, c != ";" { scalars.removeFirst() }
                continue
            }
            scalars.removeFirst()
            skipSpace()
            let name = token().lowercased()
            skipSpace()
            guard scalars.first == "=" else { continue }
            scalars.removeFirst()
            skipSpace()
            var value = String.UnicodeScalarView()
            if scalars.first == "\"" {
                scalars.removeFirst()
                while let c = scalars.first, c != "\"" {
                    scalars.removeFirst()
                    if c == "\\", let n = scalars.first { value.append(n); scalars.removeFirst() } else { value.append(c) }
                }
                if !scalars.isEmpty { scalars.removeFirst() }
            } else {
                while let c = scalars.first, c != ";" { value.append(c); scalars.removeFirst() }
                while let l = value.last, l == " " || l == "\t" || l == "\r" || l == "\n" { value.removeLast() }
            }
            if !name.isEmpty, parameters[name] == nil { parameters[name] = String(value) }
        }
    }

    init(mimeType: String, parameters: [String: String]) {
        self.mimeType = mimeType
        self.parameters = parameters
    }
}

/// One MIME entity: a message or a body part.
struct MIMEEntity: Sendable {
    /// Its header fields.
    var headers: MIMEHeaders
    /// Its content type (default `text/plain`, or `message/rfc822` in a `multipart/digest`).
    var contentType: MIMEContentType
    /// The body as transmitted (transfer-encoded), a slice of the message's bytes.
    var body: ArraySlice<UInt8>
    /// The bytes of the whole entity (headers and body).
    var whole: ArraySlice<UInt8>
    /// The body parts, for a multipart entity.
    var parts: [MIMEEntity] = []
    /// Whether the header block ended with an empty line (false: the entity is all headers, or
    /// the headers ran into non-header text).
    var headerEnded: Bool
    /// What was wrong, for people (empty when the structure is sound).
    var defects: [String] = []

    /// The body with its `Content-Transfer-Encoding` undone (base64, quoted-printable; others as is).
    var decodedBody: [UInt8] {
        let encoding = (headers["Content-Transfer-Encoding"] ?? "").mimeTrimmed().lowercased()
        switch encoding {
        case "base64": return MIME.decodeBase64(body)
        case "quoted-printable": return MIME.decodeQuotedPrintable(body)
        default: return Array(body)
        }
    }

    /// The decoded body as text, in its declared charset (best effort; unknown charsets are read
    /// as UTF-8 with replacement characters, invalid UTF-8 as Windows-1252).
    var text: String { MIME.decodeText(decodedBody, charset: contentType.parameters["charset"]) }

    /// Every entity of the tree, depth first, this one included.
    var allEntities: [MIMEEntity] {
        var out: [MIMEEntity] = []
        var stack: [MIMEEntity] = [self]
        while let e = stack.popLast(), out.count < MIME.maximumParts {
            out.append(e)
            stack.append(contentsOf: e.parts.reversed())
        }
        return out
    }

    /// Every defect in the tree.
    var allDefects: [String] { allEntities.flatMap(\.defects) }
}

/// MIME parsing and decoding functions.
enum MIME {
    /// Most header fields read in one header block; the rest are ignored.
    static let maximumFields = 1000
    /// Longest unfolded header value kept, in bytes.
    static let maximumFieldLength = 32 * 1024
    /// Deepest nesting of multiparts and encapsulated messages parsed.
    static let maximumDepth = 12
    /// Most body parts parsed in one message.
    static let maximumParts = 512

    // MARK: Lines

    /// The end of the line starting at `i` (index of its LF, or `end`), and the index after its terminator.
    @inline(__always)
    static func lineEnd(_ bytes: ArraySlice<UInt8>, from i: Int) -> (contentEnd: Int, next: Int) {
        var j = i
        let end = bytes.endIndex
        while j < end, bytes[j] != 0x0A { j += 1 }
        let next = j < end ? j + 1 : end
        var contentEnd = j
        if contentEnd > i, bytes[contentEnd - 1] == 0x0D { contentEnd -= 1 }
        return (contentEnd, next)
    }

    // MARK: Headers

    /// Parses the header block at the start of `bytes` (RFC 5322 §2.2): fields end at an empty line;
    /// lines starting with white space continue the previous field. An initial mbox `From ` line is
    /// skipped. A line that is neither a field nor a continuation ends the block (the body starts
    /// there).
    static func parseHeaders(_ bytes: ArraySlice<UInt8>) -> (headers: MIMEHeaders, bodyStart: Int, ended: Bool) {
        var fields: [MIMEField] = []
        var i = bytes.startIndex
        var name: [UInt8] = []
        var value: [UInt8] = []
        var inField = false
        func flush() {
            guard inField else { return }
            inField = false
            guard fields.count < maximumFields else { return }
            var v = value[...]
            while let f = v.first, f == 0x20 || f == 0x09 { v.removeFirst() }
            while let l = v.last, l == 0x20 || l == 0x09 { v.removeLast() }
            fields.append(MIMEField(name: String(decoding: name, as: UTF8.self), value: decodeHeaderBytes(v)))
        }
        var first = true
        while i < bytes.endIndex {
            let (contentEnd, next) = lineEnd(bytes, from: i)
            if contentEnd == i {
                flush()
                return (MIMEHeaders(fields: fields), next, true)
            }
            let c = bytes[i]
            if c == 0x20 || c == 0x09 {
                if inField {
                    if value.count < maximumFieldLength { value.append(contentsOf: bytes[i..<min(contentEnd, i + maximumFieldLength)]) }
                    i = next; first = false
                    continue
                }
                if first { i = next; continue }  // stray indentation before any field
                flush()
                return (MIMEHeaders(fields: fields), i, false)
            }
            if first, contentEnd - i >= 5, bytes[i..<(i + 5)].elementsEqual("From ".utf8) {
                i = next; first = false
                continue
            }
            // name ":" — the name is printable ASCII without ':' (RFC 5322 §2.2); allow white
            // space before the colon (obsolete syntax, RFC 5322 §4.5).
            var j = i
            while j < contentEnd, bytes[j] > 0x20, bytes[j] < 0x7F, bytes[j] != 0x3A { j += 1 }
            var k = j
            while k < contentEnd, bytes[k] == 0x20 || bytes[k] == 0x09 { k += 1 }
            guard j > i, k < contentEnd, bytes[k] == 0x3A else {
                flush()
                return (MIMEHeaders(fields: fields), i, false)
            }
            flush()
            inField = true
            first = false
            name = Array(bytes[i..<j])
            value = Array(bytes[(k + 1)..<min(contentEnd, k + 1 + maximumFieldLength)])
            i = next
        }
        flush()
        return (MIMEHeaders(fields: fields), bytes.endIndex, false)
    }

    /// Header bytes as text: UTF-8 when valid, else Windows-1252 (8-bit headers are not allowed by
    /// RFC 5322 but are common in bounces).
    static func decodeHeaderBytes(_ bytes: ArraySlice<UInt8>) -> String {
        if let s = String(validating: bytes, as: UTF8.self) { return s }
        return decodeSingleByte(bytes, table: windows1252High)
    }

    // MARK: Entities

    /// Parses a message or body part.
    ///
    /// - Parameters:
    ///   - bytes: the entity's bytes (headers, empty line, body).
    ///   - depth: nesting level (0 for the message).
    ///   - defaultType: the content type when the entity names none.
    ///   - partBudget: shared count of parts still allowed.
    static func parse(_ bytes: ArraySlice<UInt8>, depth: Int = 0, defaultType: MIMEContentType = .textPlain,
                      partBudget: inout Int) -> MIMEEntity {
        let (headers, bodyStart, ended) = parseHeaders(bytes)
        let contentType = headers["Content-Type"].map(MIMEContentType.init) ?? defaultType
        var entity = MIMEEntity(headers: headers, contentType: contentType, body: bytes[bodyStart...],
                                whole: bytes, headerEnded: ended)
        guard contentType.isMultipart else { return entity }
        guard depth < maximumDepth else {
            entity.defects.append("multipart nested deeper than \(maximumDepth) levels: not parsed")
            return entity
        }
        var boundary = contentType.parameters["boundary"].flatMap { $0.isEmpty || $0.utf8.count > 200 ? nil : Array($0.utf8) }
        var split = boundary.map { splitMultipart(entity.body, boundary: $0) }
        if boundary == nil {
            entity.defects.append("\(contentType.mimeType) without a boundary parameter")
        } else if split?.foundFirst == false {
            entity.defects.append("\(contentType.mimeType): the boundary never occurs in the body")
        }
        if split?.foundFirst != true {
            // Recover: a delimiter line ("--token" followed by part headers) in the body.
            boundary = guessBoundary(entity.body)
            split = boundary.map { splitMultipart(entity.body, boundary: $0) }
            if let b = boundary, split?.foundFirst == true {
                entity.defects.append("\(contentType.mimeType): parts read with the delimiter found in the body (\"--\(String(decoding: b.prefix(80), as: UTF8.self))\")")
            } else {
                return entity
            }
        }
        guard let split else { return entity }
        if !split.closed {
            entity.defects.append("\(contentType.mimeType): no closing boundary (truncated)")
        }
        let childDefault = contentType.subtype == "digest" ? MIMEContentType(mimeType: "message/rfc822", parameters: [:]) : .textPlain
        for range in split.parts {
            guard partBudget > 0 else {
                entity.defects.append("more than \(maximumParts) body parts: the rest is ignored")
                break
            }
            partBudget -= 1
            entity.parts.append(parse(range, depth: depth + 1, defaultType: childDefault, partBudget: &partBudget))
        }
        return entity
    }

    /// Parses a whole message.
    static func parse(_ bytes: [UInt8]) -> MIMEEntity {
        var budget = maximumParts
        return parse(bytes[...], partBudget: &budget)
    }

    /// The boundary of the first line that looks like a delimiter: `--token` (no white space)
    /// followed by a `Content-…:` header line.
    static func guessBoundary(_ body: ArraySlice<UInt8>) -> [UInt8]? {
        var i = body.startIndex
        var lines = 0
        while i < body.endIndex, lines < 10000 {
            lines += 1
            let (contentEnd, next) = lineEnd(body, from: i)
            let length = contentEnd - i
            if length >= 3, length <= 202, body[i] == 0x2D, body[i + 1] == 0x2D,
               !body[i..<contentEnd].contains(where: { $0 == 0x20 || $0 == 0x09 }), next < body.endIndex {
                let (nextEnd, _) = lineEnd(body, from: next)
                let header = body[next..<nextEnd].prefix(8).map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }
                if header.elementsEqual("content-".utf8) {
                    var token = Array(body[(i + 2)..<contentEnd])
                    if token.count > 2, token.suffix(2).elementsEqual("--".utf8) { token.removeLast(2) }
                    return token
                }
            }
            i = next
        }
        return nil
    }

    /// Splits a multipart body at its boundary delimiter lines (RFC 2046 §5.1.1): `--boundary`
    /// and the close delimiter `--boundary--`, each alone on its line (trailing white space allowed).
    /// The line break before a delimiter belongs to it. Without a close delimiter the last part runs
    /// to the end (`closed` false).
    static func splitMultipart(_ body: ArraySlice<UInt8>, boundary: [UInt8]) -> (parts: [ArraySlice<UInt8>], foundFirst: Bool, closed: Bool) {
        var parts: [ArraySlice<UInt8>] = []
        var partStart: Int? = nil
        var foundFirst = false
        var i = body.startIndex
        var previousLineEnd = body.startIndex  // where the terminator of the previous line starts
        while i < body.endIndex {
            let (contentEnd, next) = lineEnd(body, from: i)
            if contentEnd - i >= boundary.count + 2, body[i] == 0x2D, body[i + 1] == 0x2D,
               body[(i + 2)..<(i + 2 + boundary.count)].elementsEqual(boundary) {
                var k = i + 2 + boundary.count
                var close = false
                if k + 2 <= contentEnd, body[k] == 0x2D, body[k + 1] == 0x2D {
                    close = true; k += 2
                }
                var onlySpace = true
                while k < contentEnd { if body[k] != 0x20 && body[k] != 0x09 { onlySpace = false; break }; k += 1 }
                if onlySpace {
                    if let s = partStart {
                        parts.append(body[s..<max(s, previousLineEnd)])
                    }
                    foundFirst = true
                    if close { return (parts, true, true) }
                    partStart = next
                    previousLineEnd = next
                    i = next
                    continue
                }
            }
            // The terminator of this line starts at contentEnd (before CR LF).
            previousLineEnd = contentEnd
            i = next
        }
        if let s = partStart, s < body.endIndex { parts.append(body[s..<body.endIndex]) }
        return (parts, foundFirst, false)
    }

    // MARK: Transfer encodings

    /// Decodes base64 (RFC 2045 §6.8), ignoring characters outside the alphabet and tolerating
    /// missing padding.
    static func decodeBase64(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 3 / 4)
        var acc: UInt32 = 0
        var n = 0
        for c in bytes {
            let v: UInt32
            switch c {
            case 0x41...0x5A: v = UInt32(c - 0x41)
            case 0x61...0x7A: v = UInt32(c - 0x61 + 26)
            case 0x30...0x39: v = UInt32(c - 0x30 + 52)
            case 0x2B: v = 62
            case 0x2F: v = 63
            case 0x3D: continue
            default: continue
            }
            acc = (acc << 6) | v
            n += 1
            if n == 4 {
                out.append(UInt8((acc >> 16) & 0xFF)); out.append(UInt8((acc >> 8) & 0xFF)); out.append(UInt8(acc & 0xFF))
                acc = 0; n = 0
            }
        }
        if n == 2 { out.append(UInt8((acc >> 4) & 0xFF)) }
        if n == 3 { out.append(UInt8((acc >> 10) & 0xFF)); out.append(UInt8((acc >> 2) & 0xFF)) }
        return out
    }

    /// Decodes quoted-printable (RFC 2045 §6.7): `=XX` bytes, `=` at the end of a line is a soft
    /// line break; an `=` not followed by two hex digits is kept.
    static func decodeQuotedPrintable(_ bytes: ArraySlice<UInt8>, underscoreIsSpace: Bool = false) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = bytes.startIndex
        let end = bytes.endIndex
        while i < end {
            let c = bytes[i]
            if c == 0x3D {
                // Soft line break: '=' then optional white space then CRLF / LF.
                var j = i + 1
                while j < end, bytes[j] == 0x20 || bytes[j] == 0x09 { j += 1 }
                if j < end, bytes[j] == 0x0D, j + 1 < end, bytes[j + 1] == 0x0A { i = j + 2; continue }
                if j < end, bytes[j] == 0x0A { i = j + 1; continue }
                if j == end { i = end; continue }
                if i + 2 < end, let h = hexValue(bytes[i + 1]), let l = hexValue(bytes[i + 2]) {
                    out.append(h << 4 | l); i += 3; continue
                }
                out.append(c); i += 1
                continue
            }
            if underscoreIsSpace && c == 0x5F { out.append(0x20) } else { out.append(c) }
            i += 1
        }
        return out
    }

    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x41...0x46: c - 0x41 + 10
        case 0x61...0x66: c - 0x61 + 10
        default: nil
        }
    }

    // MARK: Charsets

    /// Decodes text in `charset`, best effort: UTF-8 and US-ASCII; ISO-8859-1 and Windows-1252 by
    /// table; ISO-2022-JP, Shift_JIS, EUC-JP and Windows-1251 with Foundation; any other charset
    /// keeps its ASCII bytes and replaces the others, which is enough to find addresses, codes and
    /// English diagnostics. Bytes that are not valid UTF-8 under a UTF-8 label are read as
    /// Windows-1252.
    static func decodeText(_ input: [UInt8], charset: String?) -> String {
        // Line ends as LF: Swift treats CR LF as one Character, which would hide the lines.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(input.count)
        for (i, b) in input.enumerated() {
            if b == 0x0D { if i + 1 < input.count, input[i + 1] == 0x0A { continue }; bytes.append(0x0A); continue }
            bytes.append(b)
        }
        let cs = (charset ?? "us-ascii").mimeTrimmed().lowercased()
        switch cs {
        case "iso-8859-1", "latin1", "iso_8859-1", "l1", "iso8859-1":
            return decodeSingleByte(bytes[...], table: nil)
        case "windows-1252", "cp1252", "x-cp1252":
            return decodeSingleByte(bytes[...], table: windows1252High)
        case "iso-2022-jp", "shift_jis", "sjis", "x-sjis", "euc-jp", "windows-1251", "cp1251", "windows-31j", "cp932":
            let encoding: String.Encoding = switch cs {
            case "iso-2022-jp": .iso2022JP
            case "euc-jp": .japaneseEUC
            case "windows-1251", "cp1251": .windowsCP1251
            default: .shiftJIS
            }
            if let s = String(data: Data(bytes), encoding: encoding) { return s }
            if let s = String(validating: bytes, as: UTF8.self) { return s }
            return String(String.UnicodeScalarView(bytes.map { $0 < 0x80 && $0 != 0x1B ? Unicode.Scalar($0) : "\u{FFFD}" }))
        case "gb2312", "gbk", "big5", "euc-kr", "ks_c_5601-1987", "iso-2022-kr", "koi8-r", "gb18030":
            if let s = String(validating: bytes, as: UTF8.self), !bytes.contains(where: { $0 == 0x1B }) { return s }
            return String(String.UnicodeScalarView(bytes.map { $0 < 0x80 && $0 != 0x1B ? Unicode.Scalar($0) : "\u{FFFD}" }))
        default:
            if let s = String(validating: bytes, as: UTF8.self) { return s }
            return decodeSingleByte(bytes[...], table: windows1252High)
        }
    }

    /// Windows-1252 code points for bytes 0x80–0x9F (the rest is ISO-8859-1).
    static let windows1252High: [UInt32] = [
        0x20AC, 0xFFFD, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0xFFFD, 0x017D, 0xFFFD,
        0xFFFD, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0xFFFD, 0x017E, 0x0178,
    ]

    static func decodeSingleByte(_ bytes: ArraySlice<UInt8>, table: [UInt32]?) -> String {
        var view = String.UnicodeScalarView()
        for b in bytes {
            if b >= 0x80, b <= 0x9F, let table, let s = Unicode.Scalar(table[Int(b - 0x80)]) { view.append(s) } else { view.append(Unicode.Scalar(b)) }
        }
        return String(view)
    }

    /// Decodes RFC 2047 encoded words (`=?charset?B?…?=`, `=?charset?Q?…?=`) in a header value;
    /// white space between two encoded words is dropped (RFC 2047 §6.2).
    static func decodeEncodedWords(_ text: String) -> String {
        guard text.contains("=?") else { return text }
        var out = ""
        var rest = Substring(text)
        var lastWasEncoded = false
        var pendingSpace = ""
        var guardCount = 0
        while !rest.isEmpty, guardCount < 256 {
            guardCount += 1
            guard let start = rest.firstRange(of: "=?") else { out += pendingSpace + rest; pendingSpace = ""; break }
            let before = rest[..<start.lowerBound]
            // "=?" charset "?" encoding "?" text "?="
            let afterStart = rest[start.upperBound...]
            guard let q1 = afterStart.firstIndex(of: "?") else { out += pendingSpace + rest; pendingSpace = ""; break }
            let charset = afterStart[..<q1]
            let afterCharset = afterStart[afterStart.index(after: q1)...]
            guard let q2 = afterCharset.firstIndex(of: "?"), afterCharset.distance(from: afterCharset.startIndex, to: q2) == 1 else {
                out += pendingSpace + before + "=?"; pendingSpace = ""; rest = afterStart; lastWasEncoded = false; continue
            }
            let encoding = afterCharset[afterCharset.startIndex].lowercased()
            let payloadStart = afterCharset[afterCharset.index(after: q2)...]
            guard let end = payloadStart.firstRange(of: "?=") else { out += pendingSpace + rest; pendingSpace = ""; break }
            let payload = payloadStart[..<end.lowerBound]
            let bytes: [UInt8] = encoding == "b" ? decodeBase64(Array(payload.utf8)[...])
                : decodeQuotedPrintable(Array(payload.utf8)[...], underscoreIsSpace: true)
            let cs = charset.split(separator: "*").first.map(String.init) ?? String(charset)
            if lastWasEncoded && before.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }) {
                // Adjacent encoded words: drop the white space between them.
            } else {
                out += pendingSpace + before
            }
            pendingSpace = ""
            out += decodeText(bytes, charset: cs)
            lastWasEncoded = true
            rest = payloadStart[end.upperBound...]
        }
        return out + pendingSpace
    }

    /// Removes RFC 5322 comments `( … )` (nesting, quoted pairs) outside quoted strings.
    static func removingComments(_ text: String) -> String {
        guard text.contains("(") else { return text }
        var out = String.UnicodeScalarView()
        var depth = 0
        var inQuote = false
        var escaped = false
        for c in text.unicodeScalars {
            if escaped { escaped = false; if depth == 0 { out.append(c) }; continue }
            if c == "\\" { escaped = true; if depth == 0 { out.append(c) }; continue }
            if inQuote { out.append(c); if c == "\"" { inQuote = false }; continue }
            if c == "\"" && depth == 0 { inQuote = true; out.append(c); continue }
            if c == "(" { depth += 1; continue }
            if c == ")" && depth > 0 { depth -= 1; if depth == 0 { out.append(" ") }; continue }
            if depth == 0 { out.append(c) }
        }
        return String(out)
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces, tabs, CR and LF.
    func mimeTrimmed() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\r" || f == "\n" || f == "\r\n" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" || l == "\n" || l == "\r\n" { s.removeLast() }
        return String(s)
    }
}
