/// The SMTP command a failure answered — the stage of the SMTP transaction at which the receiving
/// server refused (issue #14).
///
/// The stage tells what a refusal is about. RFC 5321 §3.3: the server accepts or refuses each
/// recipient at `RCPT TO`, and only then receives the message after `DATA`; so a "user unknown"
/// answer to `RCPT TO` refuses the address, while the same words after the message was sent
/// (`DATA`, end of data) refuse the message — a filter that reads its headers or body, not an
/// unknown address (Sisimai `Sisimai::Reason::Filtered`: a "user unknown" text is `filtered`
/// unless the command was one sent before `DATA`; `Sisimai::Reason::UserUnknown`: a "user unknown"
/// text without an X.1.1 code is `userunknown` only when the command was `RCPT`).
///
/// A rule's ``QualificationRule/smtpCommand`` condition lists the commands it applies to. The
/// command is given apart (``TextQualifier/qualify(text:enhancedStatus:replyCode:smtpCommand:context:)``)
/// or found in the failure text by ``find(in:)``. JSON: the raw values (`"RCPT"`).
public enum SMTPCommand: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// The connection, before any command: the server's greeting (RFC 5321 §3.1, §4.3.2 "connection
    /// establishment").
    case connect = "CONNECT"
    /// `EHLO` or `HELO` (RFC 5321 §4.1.1.1).
    case ehlo = "EHLO"
    /// `STARTTLS` (RFC 3207).
    case starttls = "STARTTLS"
    /// `AUTH` (RFC 4954).
    case auth = "AUTH"
    /// `MAIL FROM` (RFC 5321 §4.1.1.2): the reverse path, i.e. the sender.
    case mail = "MAIL"
    /// `RCPT TO` (RFC 5321 §4.1.1.3): one recipient.
    case rcpt = "RCPT"
    /// `DATA` (RFC 5321 §4.1.1.4), the end of the data (the final `.`) or `BDAT` (RFC 3030): the message.
    case data = "DATA"

    public var description: String { rawValue }

    /// Whether the command comes before the message is sent (RFC 5321 §3.3): everything but ``data``.
    public var isBeforeData: Bool { self != .data }

    /// The command a failure text says the reply answered, or `nil` when it names none — or names
    /// different ones (then no rule conditioned on a command applies).
    ///
    /// Read, without case, from the wordings MTAs use to quote a remote reply:
    /// - Postfix: `(in reply to RCPT TO command)`, `in reply to end of DATA command`, `while sending
    ///   MAIL FROM`, `while receiving the initial server greeting` (Postfix `smtp_proto.c`,
    ///   `xfer_request` / `xfer_states`);
    /// - Exim: `SMTP error from remote mail server after RCPT TO:<…>`, `after end of data`, `after
    ///   pipelined MAIL FROM`, `after initial connection`; GMX / 1&1 `after RCPT command` (any
    ///   `after` followed by a command name);
    /// - a session transcript (Sendmail, Courier, au EZweb): the last `>>> COMMAND` line before the
    ///   first `<<< 4xx`/`<<< 5xx` reply;
    /// - qmail-remote (`qmail-remote.c`): `does not like recipient` (RCPT), `but sender was
    ///   rejected` (MAIL), `but my name was rejected` (HELO), `failed after I sent the message` (DATA);
    /// - Postfix's greeting refusal: `refused to talk to me` (the connection's greeting);
    /// - a labelled field: `SMTP command: DATA` (m-FILTER writes the label and the command on two lines).
    public static func find(in text: String) -> SMTPCommand? {
        let found = mentions(in: text)
        guard let first = found.first, found.allSatisfy({ $0.command == first.command }) else { return nil }
        return first.command
    }

    /// The command ``find(in:)`` reads in `text` and the words that say it, blanks collapsed and case
    /// kept (e.g. `in reply to RCPT TO command`, `>>> DATA`, `after end of data`) — what a reader adds to
    /// a diagnostic that does not say the command, so the event's text keeps the evidence.
    /// `nil` when ``find(in:)`` is `nil`.
    public static func evidence(in text: String) -> (command: SMTPCommand, words: String)? {
        let found = mentions(in: text)
        guard let first = found.first, found.allSatisfy({ $0.command == first.command }) else { return nil }
        return (first.command, first.words)
    }

    /// The command a failure answered when its text names none but names the **envelope sender**:
    /// ``mail`` when all of these hold, `nil` otherwise:
    /// - `text` names no command (``find(in:)`` is `nil`);
    /// - an address it quotes in angle brackets (`<bounces@example.net>`) is the address of the
    ///   `Return-Path:` field that makes the **last paragraph** of `raw` (the DSN reader puts the
    ///   returned message's field there, after an empty line, only for such a reply);
    /// - the text does not also name the recipient — `recipient`, or the `Final-Recipient` /
    ///   `Original-Recipient` of `raw`, by its whole address or its local part followed by `@`
    ///   (a Postfix log line `from=<sender> to=<recipient>`, an alias, an IDN written in A-labels);
    /// - neither the text's enhanced status code nor the `Status:` field of `raw` (the DSN's recipient
    ///   block) is about the destination mailbox (RFC 3463 X.1.1–X.1.6 and X.1.10 name the
    ///   destination address, X.2.x its mailbox).
    ///
    /// Rule (RFC 5321 §3.3, §4.1.1.2, §4.4): the `Return-Path` of the returned message is the
    /// reverse-path its sender gave at `MAIL FROM`, and a reply that names that address and not the
    /// recipient (Sendmail's `<address>... Access denied`, quoted by Amazon SES as `5.1.0 - Unknown
    /// address error 550-'5.7.1 <…>... Access denied'`) is about the sender — as a reply to `MAIL`
    /// is. Addresses are compared without case; a text of more than 16 KiB is read up to there.
    /// Used the same way at ingest and at re-projection (``TextQualifier/qualify(event:)``), so an
    /// event is qualified alike by both.
    public static func implied(byReply text: String, recipient: String, raw: [UInt8]) -> SMTPCommand? {
        let quoted = quotedAddresses(in: text)
        guard !quoted.isEmpty, let path = lastParagraphReturnPath(in: raw), quoted.contains(path) else { return nil }
        // The recipient's block fields (QualificationContext.fieldValue: the first field of each name).
        func field(_ name: String) -> String? { QualificationContext.fieldValue(name, in: raw)?.lowercased() }
        let identities = [recipient.lowercased()] + ["final-recipient", "original-recipient"].compactMap(field).map { value in
            String((value.split(separator: ";", maxSplits: 1).last ?? value[...]).filter { $0 != " " && $0 != "\t" && $0 != "<" && $0 != ">" })
        }
        // A code about the destination mailbox says the reply is about the recipient.
        let statuses = [field("status").flatMap { EnhancedStatusCode($0.split(separator: " ").first ?? "") }]
        for code in [TextQualifier.enhancedStatus(in: text)] + statuses {
            if let c = code, (c.subject == 1 && [1, 2, 3, 4, 5, 6, 10].contains(c.detail)) || c.subject == 2 { return nil }
        }
        // The text with the sender's address taken out must not name the recipient.
        let rest = String(decoding: text.utf8.prefix(16_384), as: UTF8.self).lowercased().replacing(path, with: " ")
        for identity in identities where identity.contains("@") {
            if rest.contains(identity) { return nil }
            if let at = identity.firstIndex(of: "@"), at > identity.startIndex, rest.contains(identity[..<identity.index(after: at)]) { return nil }
        }
        guard find(in: text) == nil else { return nil }
        return .mail
    }

    /// The address of the `Return-Path:` field that makes the last paragraph of `raw` (after its
    /// last empty line), lower-cased, without angle brackets or blanks; `nil` when there is none or
    /// it is empty (`<>`).
    static func lastParagraphReturnPath(in raw: [UInt8]) -> String? {
        var end = raw.count
        while end > 0, raw[end - 1] == 0x0A || raw[end - 1] == 0x0D { end -= 1 }
        guard end > 0 else { return nil }
        var start = end
        while start > 0, !(raw[start - 1] == 0x0A && start >= 2 && (raw[start - 2] == 0x0A || (raw[start - 2] == 0x0D && start >= 3 && raw[start - 3] == 0x0A))) {
            start -= 1
            if end - start > 1024 { return nil }  // a field, not a body
        }
        let paragraph = raw[start..<end]
        let key = Array("return-path:".utf8)
        guard paragraph.count > key.count, zip(paragraph.prefix(key.count), key).allSatisfy({ $0 | 0x20 == $1 }),
              !paragraph.contains(0x0A) else { return nil }
        let value = paragraph.dropFirst(key.count).filter { $0 != 0x3C && $0 != 0x3E && $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }
        guard value.contains(0x40) else { return nil }
        return String(decoding: value, as: UTF8.self).lowercased()
    }

    /// The addresses (containing `@`, lower-cased) quoted between `<` and `>` in the first 16 KiB of `text`.
    static func quotedAddresses(in text: String) -> [String] {
        var out: [String] = []
        let bytes = Array(text.utf8.prefix(16_384))
        var i = 0
        while i < bytes.count {
            guard bytes[i] == 0x3C else { i += 1; continue }  // <
            var k = i + 1
            var at = false
            while k < bytes.count, k - i <= 320, bytes[k] != 0x3E, bytes[k] != 0x3C, bytes[k] > 0x20 {
                if bytes[k] == 0x40 { at = true }
                k += 1
            }
            if k < bytes.count, bytes[k] == 0x3E, at, k > i + 1 {
                out.append(String(decoding: bytes[(i + 1)..<k], as: UTF8.self).lowercased())
                i = k + 1
            } else {
                i += 1
            }
        }
        return out
    }

    /// Every mention of a command in `text`, in the order of the patterns.
    private static func mentions(in text: String) -> [(command: SMTPCommand, words: String)] {
        guard !text.isEmpty else { return [] }
        // Blanks and line breaks collapsed to one space (MTAs fold "in reply to end of\n DATA command").
        var folded: [UInt8] = []
        folded.reserveCapacity(min(text.utf8.count, 16_384))
        for b in text.utf8.prefix(16_384) {
            let c: UInt8 = b == 0x09 || b == 0x0A || b == 0x0D ? 0x20 : b
            if c == 0x20, folded.last == 0x20 { continue }
            folded.append(c)
        }
        let lower = folded.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }
        func words(_ r: Range<Int>) -> String { String(decoding: folded[r], as: UTF8.self) }
        var found: [(command: SMTPCommand, words: String)] = []
        // Phrases followed by a command name.
        for (prefix, isLabel) in prefixed {
            var from = 0
            while let at = lower.firstRange(of: prefix, from: from) {
                from = at.upperBound
                var i = at.upperBound
                if isLabel {  // "SMTP command: DATA", "SMTP command\nDATA", "SMTP command -- DATA"
                    let start = i
                    while i < lower.count, lower[i] == 0x20 || lower[i] == 0x2D || lower[i] == 0x3A { i += 1 }
                    guard i > start else { continue }
                }
                if let n = commandNames.first(where: { lower.hasPrefix($0.word, at: i) && lower.isWordEnd(at: i + $0.word.count) }) {
                    var end = i + n.word.count
                    if lower.hasPrefix(commandWord, at: end), lower.isWordEnd(at: end + commandWord.count) { end += commandWord.count }
                    // "after" is also a word of prose ("resend after mail from your domain passes
                    // SPF"): Exim and GMX end the command with punctuation (`after RCPT TO:<…>`,
                    // `after end of data:`, `after RCPT command:`), so a letter after a blank is prose.
                    if prefix.starts(with: afterWord), end + 1 < lower.count, lower[end] == 0x20,
                       lower[end + 1] >= 0x61 && lower[end + 1] <= 0x7A {
                        continue
                    }
                    found.append((n.command, words(at.lowerBound..<end)))
                }
            }
        }
        // Fixed phrases.
        for (phrase, command) in phrases {
            if let at = lower.firstRange(of: phrase, from: 0) { found.append((command, words(at))) }
        }
        // A transcript: the last ">>> COMMAND" before the first negative "<<< " reply.
        if let (command, at) = transcriptCommand(lower) { found.append((command, words(at))) }
        return found
    }

    private static let afterWord = Array("after ".utf8)

    /// " command", kept with the words when it follows the name ("in reply to RCPT TO command").
    private static let commandWord = Array(" command".utf8)

    private struct Name { var word: [UInt8]; var command: SMTPCommand }

    private static func names(_ pairs: [(String, SMTPCommand)]) -> [Name] {
        pairs.map { Name(word: Array($0.0.utf8), command: $0.1) }
    }

    /// Command names as MTAs write them after a phrase, longest first.
    private static let commandNames = names([
        ("rcpt to", .rcpt), ("rcpt command", .rcpt), ("rcpt", .rcpt), ("mail from", .mail), ("mail command", .mail),
        ("end of data", .data), ("data", .data), ("bdat", .data), ("ehlo", .ehlo), ("helo", .ehlo),
        ("starttls", .starttls), ("auth", .auth), ("initial connection", .connect), ("initial server greeting", .connect),
        ("the initial server greeting", .connect), ("message body", .data),
    ])

    /// Phrases a command name follows; `true`: a label, separated from the name by blanks, line
    /// breaks, colons or hyphens.
    private static let prefixed: [([UInt8], Bool)] = [
        (Array("in reply to ".utf8), false),
        (Array("after pipelined ".utf8), false),
        (Array("after ".utf8), false),
        (Array("while sending ".utf8), false),
        (Array("while receiving ".utf8), false),
        (Array("smtp command".utf8), true),
    ]

    private static let phrases: [([UInt8], SMTPCommand)] = [
        (Array("does not like recipient".utf8), .rcpt),
        (Array("but sender was rejected".utf8), .mail),
        (Array("but my name was rejected".utf8), .ehlo),
        (Array("failed after i sent the message".utf8), .data),
        // Postfix smtp_proto.c, a greeting that is not 220: "host <name>[<ip>] refused to talk to me: <reply>".
        (Array("refused to talk to me".utf8), .connect),
    ]

    private static let transcriptNames = names([
        ("rcpt", .rcpt), ("mail", .mail), ("data", .data), ("bdat", .data), ("ehlo", .ehlo), ("helo", .ehlo),
        ("starttls", .starttls), ("auth", .auth),
    ])

    private static func transcriptCommand(_ lower: [UInt8]) -> (SMTPCommand, Range<Int>)? {
        let sent = Array(">>>".utf8), received = Array("<<<".utf8)
        var last: (SMTPCommand, Range<Int>)? = nil
        var i = 0
        while let at = lower.firstRange(of: sent, from: i) {
            // Stop at the first negative reply before this command line.
            if let reply = lower.firstRange(of: received, from: i), reply.lowerBound < at.lowerBound,
               isNegativeReply(lower, after: reply.upperBound) { return last }
            var j = at.upperBound
            while j < lower.count, lower[j] == 0x20 { j += 1 }
            if let n = transcriptNames.first(where: { lower.hasPrefix($0.word, at: j) && lower.isWordEnd(at: j + $0.word.count) }) {
                last = (n.command, at.lowerBound..<(j + n.word.count))
            }
            i = at.upperBound
        }
        return last
    }

    private static func isNegativeReply(_ lower: [UInt8], after index: Int) -> Bool {
        var j = index
        while j < lower.count, lower[j] == 0x20 { j += 1 }
        return j < lower.count && (lower[j] == 0x34 || lower[j] == 0x35)
    }
}

extension Array where Element == UInt8 {
    /// The first range of `needle` at or after `from`.
    fileprivate func firstRange(of needle: [UInt8], from: Int) -> Range<Int>? {
        guard !needle.isEmpty, count >= needle.count else { return nil }
        var i = from
        let last = count - needle.count
        while i <= last {
            if self[i] == needle[0] && hasPrefix(needle, at: i) { return i..<(i + needle.count) }
            i += 1
        }
        return nil
    }

    fileprivate func hasPrefix(_ needle: [UInt8], at index: Int) -> Bool {
        guard index >= 0, index + needle.count <= count else { return false }
        for k in 0..<needle.count where self[index + k] != needle[k] { return false }
        return true
    }

    /// Whether `index` is the end of the text or not a letter or digit (so `data` does not match `database`).
    fileprivate func isWordEnd(at index: Int) -> Bool {
        guard index < count else { return true }
        let b = self[index]
        return !((b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x7A) || b == 0x5F)
    }
}
