/// The fields of a `message/delivery-status` body (RFC 3464 §2): a per-message block, then
/// per-recipient blocks, separated by empty lines; each block is header-style fields that may be
/// folded (internal to LedgerIngest).
struct DSNStatusReport {
    /// One per-recipient block.
    struct Block {
        /// Its fields.
        var fields: MIMEHeaders
        /// Its bytes as they appear in the (transfer-decoded) report part.
        var raw: [UInt8]
    }

    /// The per-message fields (`Reporting-MTA`, `Arrival-Date`, …), merged from every block that
    /// names no recipient.
    var perMessage = MIMEHeaders()
    /// The per-recipient blocks, in order.
    var recipients: [Block] = []

    /// Most per-recipient blocks read from one report.
    static let maximumRecipients = 1000

    static let recipientFieldNames: Set<String> = ["final-recipient", "original-recipient"]
    static let perRecipientOnly: Set<String> = ["action", "status", "diagnostic-code", "remote-mta", "last-attempt-date", "will-retry-until", "final-log-id"]

    init(_ body: [UInt8]) {
        let bytes = body[...]
        var i = bytes.startIndex
        var guardCount = 0
        while i < bytes.endIndex, guardCount < 4 * DSNStatusReport.maximumRecipients, recipients.count < DSNStatusReport.maximumRecipients {
            guardCount += 1
            // Skip empty lines between blocks.
            let (contentEnd, next) = MIME.lineEnd(bytes, from: i)
            if contentEnd == i || bytes[i..<contentEnd].allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { i = next; continue }
            let (headers, blockEnd, _) = MIME.parseHeaders(bytes[i...])
            var end = blockEnd
            if end <= i {
                // Not a field line: skip it.
                end = next
            }
            let names = Set(headers.fields.map { $0.name.lowercased() })
            var rawEnd = end
            while rawEnd > i, bytes[rawEnd - 1] == 0x0A || bytes[rawEnd - 1] == 0x0D { rawEnd -= 1 }
            if !names.isDisjoint(with: DSNStatusReport.recipientFieldNames) {
                recipients.append(Block(fields: headers, raw: Array(bytes[i..<rawEnd])))
            } else if !names.isDisjoint(with: DSNStatusReport.perRecipientOnly), var last = recipients.last,
                      Set(last.fields.fields.map { $0.name.lowercased() }).isDisjoint(with: names) {
                // A block broken by a stray empty line: its fields belong to the previous recipient.
                last.fields.fields += headers.fields
                last.raw += [0x0A] + Array(bytes[i..<rawEnd])
                recipients[recipients.count - 1] = last
            } else {
                perMessage.fields += headers.fields
            }
            i = max(end, i + 1)
        }
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
        if let semicolon = text.firstIndex(of: ";") { text = text[text.index(after: semicolon)...] }
        var s = text.mimeTrimmed()
        if let lt = s.firstIndex(of: "<"), let gt = s[lt...].firstIndex(of: ">") {
            s = String(s[s.index(after: lt)..<gt])
        }
        // Some MTAs append a comment or a display name: keep the first word holding an '@'.
        if s.contains(" "), let word = s.split(separator: " ").first(where: { $0.contains("@") }) { s = String(word) }
        return s.mimeTrimmed()
    }

    /// The text of a `Diagnostic-Code` (`smtp; 550 5.1.1 …`): the part after the diagnostic type,
    /// unfolded, runs of white space collapsed.
    static func diagnosticText(_ value: String?) -> String {
        guard let v = value else { return "" }
        var text = Substring(v)
        if let semicolon = text.firstIndex(of: ";") {
            let type = text[..<semicolon]
            if type.count <= 40, !type.contains(" ") || type.split(separator: " ").count == 1 { text = text[text.index(after: semicolon)...] }
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
