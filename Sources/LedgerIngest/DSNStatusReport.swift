/// The fields of a `message/delivery-status` body (RFC 3464 §2): per-message fields, then
/// per-recipient blocks; each block is header-style fields that may be folded (internal to
/// LedgerIngest).
///
/// Real reports bend the grammar, so blocks are found by their fields rather than by empty lines
/// alone: a recipient block starts at the first per-recipient field (`Final-Recipient`,
/// `Original-Recipient`, `Action`, `Status`, …) and a new one starts when a per-recipient field
/// repeats (reports that forget the empty line between recipients); a block without a recipient
/// address that follows one is merged into it (a stray empty line inside a block).
struct DSNStatusReport {
    /// One per-recipient block.
    struct Block {
        /// Its fields.
        var fields: MIMEHeaders
        /// Its bytes as they appear in the (transfer-decoded) report part.
        var raw: [UInt8]
    }

    /// The per-message fields (`Reporting-MTA`, `Arrival-Date`, …).
    var perMessage = MIMEHeaders()
    /// The per-message fields' bytes as they appear in the report part (groups joined by a line break).
    var perMessageRaw: [UInt8] = []
    /// The per-recipient blocks, in order.
    var recipients: [Block] = []

    /// Most per-recipient blocks read from one report; a report with more sets
    /// ``recipientsLeftOut`` (the reader then refuses it whole).
    static let maximumRecipients = 1000
    /// Whether the report had more recipient blocks than ``maximumRecipients``.
    var recipientsLeftOut = false
    /// Most field lines read from one report.
    static let maximumLines = 20000

    static let recipientFieldNames: Set<String> = ["final-recipient", "original-recipient"]
    static let perRecipientNames: Set<String> = [
        "final-recipient", "original-recipient", "action", "status", "diagnostic-code", "remote-mta", "last-attempt-date",
        "will-retry-until", "final-log-id", "x-actual-recipient", "x-original-message-id",
    ]
    static let perMessageNames: Set<String> = ["reporting-mta", "arrival-date", "received-from-mta", "original-envelope-id", "dsn-gateway"]

    private struct Entry {
        var name: String
        var field: MIMEField
        var range: Range<Int>
    }

    private struct Group {
        var recipient: Bool
        var entries: [Entry] = []
        var names: Set<String> { Set(entries.map(\.name)) }
    }

    /// Parses a report body. `start` is where the fields begin (0 for a report part; the first
    /// field line for a report found inside a text).
    init(_ body: [UInt8], from start: Int = 0) {
        let bytes = body[...]
        var entries: [Entry?] = []  // nil = a separator (empty or non-field line)
        var i = max(0, min(start, bytes.endIndex))
        var lines = 0
        var current: (name: [UInt8], value: [UInt8], start: Int, end: Int)? = nil
        func flush() {
            guard let c = current else { return }
            current = nil
            var v = c.value[...]
            while let f = v.first, f == 0x20 || f == 0x09 { v.removeFirst() }
            while let l = v.last, l == 0x20 || l == 0x09 { v.removeLast() }
            let name = String(decoding: c.name, as: UTF8.self)
            entries.append(Entry(name: name.lowercased(), field: MIMEField(name: name, value: MIME.decodeHeaderBytes(v)), range: c.start..<c.end))
        }
        while i < bytes.endIndex, lines < DSNStatusReport.maximumLines {
            lines += 1
            let (contentEnd, next) = MIME.lineEnd(bytes, from: i)
            let line = bytes[i..<contentEnd]
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) {
                flush(); entries.append(nil); i = next; continue
            }
            if line.first == 0x20 || line.first == 0x09 {
                if current != nil {
                    if current!.value.count < MIME.maximumFieldLength { current!.value.append(contentsOf: line.prefix(MIME.maximumFieldLength)) }
                    current!.end = contentEnd
                }
                i = next; continue
            }
            var j = i
            while j < contentEnd, bytes[j] > 0x20, bytes[j] < 0x7F, bytes[j] != 0x3A { j += 1 }
            var k = j
            while k < contentEnd, bytes[k] == 0x20 || bytes[k] == 0x09 { k += 1 }
            flush()
            if j > i, k < contentEnd, bytes[k] == 0x3A {
                current = (Array(bytes[i..<j]), Array(bytes[(k + 1)..<contentEnd].prefix(MIME.maximumFieldLength)), i, contentEnd)
            } else {
                entries.append(nil)
            }
            i = next
        }
        flush()

        // Group the entries.
        var groups: [Group] = []
        var group: Group? = nil
        func close() {
            guard let g = group, !g.entries.isEmpty else { group = nil; return }
            groups.append(g)
            group = nil
        }
        for entry in entries {
            guard let e = entry else { close(); continue }
            if DSNStatusReport.perRecipientNames.contains(e.name) {
                if let g = group, g.recipient, !g.names.contains(e.name) {
                    group!.entries.append(e)
                } else {
                    close()
                    group = Group(recipient: true, entries: [e])
                }
            } else if let g = group, g.recipient, !DSNStatusReport.perMessageNames.contains(e.name) {
                group!.entries.append(e)  // an extension field (X-…) inside a recipient block
            } else {
                if group?.recipient == true { close() }
                if group == nil { group = Group(recipient: false) }
                group!.entries.append(e)
            }
        }
        close()

        for g in groups {
            let fields = MIMEHeaders(fields: g.entries.map(\.field))
            let lo = g.entries.map(\.range.lowerBound).min() ?? 0
            let hi = g.entries.map(\.range.upperBound).max() ?? lo
            guard g.recipient else {
                perMessage.fields += fields.fields
                perMessageRaw += (perMessageRaw.isEmpty ? [] : [0x0A]) + bytes[lo..<hi]
                continue
            }
            let raw = Array(bytes[lo..<hi])
            if !g.names.isDisjoint(with: DSNStatusReport.recipientFieldNames) {
                guard recipients.count < DSNStatusReport.maximumRecipients else { recipientsLeftOut = true; break }
                recipients.append(Block(fields: fields, raw: raw))
            } else if var last = recipients.last, Set(last.fields.fields.map { $0.name.lowercased() }).isDisjoint(with: g.names) {
                // A block broken by a stray empty line: its fields belong to the previous recipient.
                last.fields.fields += fields.fields
                last.raw += [0x0A] + raw
                recipients[recipients.count - 1] = last
            }
        }
    }

    /// Where the report fields start in a text that holds an RFC 3464 report without MIME
    /// structure (a broken or anonymised bounce): the first line starting with `Reporting-MTA:`,
    /// `Original-Envelope-Id:`, `Arrival-Date:`, `Final-Recipient:` or `Original-Recipient:`, provided
    /// that per-recipient fields follow.
    static func embeddedStart(in bytes: [UInt8]) -> Int? {
        let names = ["reporting-mta:", "original-envelope-id:", "final-recipient:", "original-recipient:"].map { Array($0.utf8) }
        var i = 0
        var lines = 0
        var first: Int? = nil
        var sawRecipient = false
        while i < bytes.count, lines < maximumLines {
            lines += 1
            var end = i
            while end < bytes.count, bytes[end] != 0x0A { end += 1 }
            for (n, name) in names.enumerated() where end - i >= name.count {
                var match = true
                for (k, c) in name.enumerated() {
                    let b = bytes[i + k]
                    let lower = b >= 0x41 && b <= 0x5A ? b + 0x20 : b
                    if lower != c { match = false; break }
                }
                if match {
                    if first == nil { first = i }
                    if n >= 2 { sawRecipient = true }
                }
            }
            if sawRecipient { return first }
            i = end + 1
        }
        return nil
    }

    /// Whether `text` holds RFC 3464 per-recipient fields (a status part mislabelled as text).
    static func looksLikeStatusFields(_ text: String) -> Bool {
        let lower = text.prefix(65536).lowercased()
        return (lower.contains("final-recipient:") || lower.contains("original-recipient:"))
            && (lower.contains("\naction:") || lower.contains("\nstatus:"))
    }

    /// The address of an `address-type; address` field (`rfc822; ann@example.com`), without angle
    /// brackets; a value without a type is taken whole.
    static func address(_ value: String?) -> String? {
        guard let v = value else { return nil }
        var text = Substring(v)
        var utf8Type = false
        if let semicolon = text.firstIndex(of: ";") {
            utf8Type = text[..<semicolon].mimeTrimmed().lowercased() == "utf-8"
            text = text[text.index(after: semicolon)...]
        }
        var s = text.mimeTrimmed()
        if utf8Type { s = decodingUnicodeEscapes(s) }
        if let lt = s.firstIndex(of: "<"), let gt = s[lt...].firstIndex(of: ">") {
            s = String(s[s.index(after: lt)..<gt])
        }
        // A quoted local part may hold spaces (RFC 5321 §4.1.2): `"john smith"@example.com` is one
        // address — up to the closing quote, then `@` and the domain's first word.
        if s.hasPrefix("\""), let close = Self.closingQuote(in: s), s[s.index(after: close)...].hasPrefix("@") {
            let domain = s[s.index(after: close)...].prefix { $0 != " " && $0 != "\t" }
            return String(s[...close]) + domain
        }
        // Some MTAs append a comment or a display name: keep the first word holding an '@'.
        if s.contains(" "), let word = s.split(separator: " ").first(where: { $0.contains("@") }) { s = String(word) }
        return s.mimeTrimmed()
    }

    /// The index of the quote closing the quoted string that `s` starts with (a backslash escapes
    /// the next character, RFC 5321 §4.1.2 `quoted-pairSMTP`), or `nil`.
    static func closingQuote(in s: String) -> String.Index? {
        var i = s.index(after: s.startIndex)
        while i < s.endIndex {
            if s[i] == "\\" { i = s.index(after: i); if i < s.endIndex { i = s.index(after: i) }; continue }
            if s[i] == "\"" { return i }
            i = s.index(after: i)
        }
        return nil
    }

    /// `s` with each `\x{HEX}` (1 to 6 hex digits naming a Unicode scalar) replaced by its character:
    /// the escape of RFC 6533 §3 for the `utf-8` address type ("embedded-unicode-char"). Anything
    /// else, a malformed escape included, is kept as written.
    static func decodingUnicodeEscapes(_ s: String) -> String {
        guard s.contains("\\x{") else { return s }
        var out = ""
        var rest = Substring(s)
        while let start = rest.range(of: "\\x{") {
            out += rest[..<start.lowerBound]
            let after = rest[start.upperBound...]
            if let close = after.firstIndex(of: "}"), (1...6).contains(after.distance(from: after.startIndex, to: close)),
               let value = UInt32(after[..<close], radix: 16), let scalar = Unicode.Scalar(value) {
                out.unicodeScalars.append(scalar)
                rest = after[after.index(after: close)...]
            } else {
                out += rest[start]
                rest = after
            }
        }
        return out + rest
    }

    /// The text of a `Diagnostic-Code` (`smtp; 550 5.1.1 …`): the part after the diagnostic type,
    /// unfolded, runs of white space collapsed.
    static func diagnosticText(_ value: String?) -> String {
        guard let v = value else { return "" }
        var text = Substring(v)
        if let semicolon = text.firstIndex(of: ";") {
            let type = text[..<semicolon].mimeTrimmed()
            if type.count <= 40, !type.contains(" ") { text = text[text.index(after: semicolon)...] }
        }
        return collapseSpace(String(text))
    }

    /// Runs of spaces, tabs and line breaks as one space, trimmed.
    static func collapseSpace(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        var space = false
        for c in text.unicodeScalars {
            if c == " " || c == "\t" || c == "\r" || c == "\n" {
                space = true
            } else {
                if space && !out.isEmpty { out.append(" ") }
                space = false
                out.append(c)
            }
        }
        return String(out)
    }
}
