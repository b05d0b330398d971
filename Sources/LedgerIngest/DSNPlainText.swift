import DeliveryLedger

/// Heuristics for bounces that are not RFC 3464 reports, and for the human-readable part of those
/// that are (internal to LedgerIngest).
///
/// Plain-text bounces (qmail, Exim, old Sendmail, webmail providers…) have no fixed grammar, but
/// they share a shape: a notification naming the failed recipients, each followed (or preceded) by
/// the remote server's reply, then a copy of the returned message. These functions find the
/// notification (the text parts without the returned copy), the recipient addresses it reports, and
/// each recipient's error text. All scans are linear and capped.
enum DSNPlainText {
    /// Longest notification text examined (before the returned message), in UTF-8 bytes. A
    /// plain-text bounce whose notification is longer is refused whole (``readNotification(of:)``):
    /// its recipients after the limit would otherwise be lost without a word.
    static let maximumNotificationLength = 256 * 1024
    /// Most lines of a notification examined (the same rule).
    static let maximumLines = 20_000

    // MARK: The notification

    /// The human-readable text of a bounce: its text parts (HTML reduced to text when there is no
    /// plain part), not the returned original message, cut where a copy of the original starts.
    static func notification(of message: MIMEEntity) -> String { readNotification(of: message).text }

    /// ``notification(of:)``, and whether it was cut short: longer than
    /// ``maximumNotificationLength`` bytes or ``maximumLines`` lines once the returned message is
    /// cut off (the returned copy is cut first, so that a long original does not count).
    static func readNotification(of message: MIMEEntity) -> (text: String, truncated: Bool) {
        var texts: [String] = []
        collectText(message, into: &texts, depth: 0)
        var text = cutReturnedMessage(texts.joined(separator: "\n"))
        var truncated = false
        if text.utf8.count > maximumNotificationLength {
            text = String(decoding: Array(text.utf8.prefix(maximumNotificationLength)), as: UTF8.self)
            truncated = true
        }
        var lines = 0
        for (i, b) in text.utf8.enumerated() where b == 0x0A {
            lines += 1
            if lines >= maximumLines {
                text = String(decoding: Array(text.utf8.prefix(i)), as: UTF8.self)
                truncated = true
                break
            }
        }
        return (text, truncated)
    }

    static func collectText(_ e: MIMEEntity, into texts: inout [String], depth: Int) {
        guard depth < MIME.maximumDepth, texts.count < 32 else { return }
        let t = e.contentType.mimeType
        if e.contentType.isMultipart {
            if e.contentType.subtype == "alternative" {
                if let plain = e.parts.first(where: { $0.contentType.mimeType == "text/plain" }) {
                    collectText(plain, into: &texts, depth: depth + 1)
                } else if let first = e.parts.first(where: { $0.contentType.isMultipart || $0.contentType.type == "text" }) {
                    collectText(first, into: &texts, depth: depth + 1)
                }
                return
            }
            for p in e.parts { collectText(p, into: &texts, depth: depth + 1) }
            if e.parts.isEmpty { texts.append(MIME.decodeText(Array(e.body.prefix(maximumNotificationLength)), charset: nil)) }
            return
        }
        if t == "text/plain" || t == "text/enriched" || (t.hasPrefix("text/") && !t.hasPrefix("text/rfc822") && t != "text/html") {
            texts.append(e.text)
        } else if t == "text/html" {
            let hasPlain = texts.contains { !$0.isEmpty }
            if !hasPlain { texts.append(stripHTML(e.text)) }
        }
        // message/rfc822, text/rfc822-headers, message/delivery-status, images…: not the notification.
    }

    /// HTML as text: tags removed (block tags become line breaks), common entities decoded.
    static func stripHTML(_ html: String) -> String {
        var out = String.UnicodeScalarView()
        var inTag = false
        var tag = ""
        var scalars = Array(html.unicodeScalars.prefix(maximumNotificationLength))[...]
        while let c = scalars.first {
            scalars.removeFirst()
            if inTag {
                if c == ">" {
                    inTag = false
                    let name = tag.lowercased().trimmingPrefix("/").prefix(while: { $0.isLetter || $0.isNumber })
                    if ["br", "p", "div", "tr", "li", "h1", "h2", "h3", "table", "td"].contains(String(name)) { out.append("\n") }
                    tag = ""
                } else if tag.count < 32 { tag.unicodeScalars.append(c) }
                continue
            }
            if c == "<" { inTag = true; continue }
            if c == "&" {
                var entity = ""
                while let n = scalars.first, n != ";", entity.count < 8, n != " " { entity.unicodeScalars.append(n); scalars.removeFirst() }
                if scalars.first == ";" { scalars.removeFirst() }
                switch entity.lowercased() {
                case "lt": out.append("<")
                case "gt": out.append(">")
                case "amp": out.append("&")
                case "quot": out.append("\"")
                case "nbsp", "#160": out.append(" ")
                case "#39", "apos": out.append("'")
                default: out.append(" ")
                }
                continue
            }
            out.append(c)
        }
        return String(out)
    }

    /// Lines that announce the copy of the returned message (lower-case fragments).
    static let returnedMessageMarkers = [
        "below this line is a copy of the message",
        "this is a copy of the message",
        "a copy of the original message",
        "original message follows",
        "original message headers",
        "-- original message --", "----- original message -----", "-----original message-----",
        "message headers follow",
        "unsent message follows",
        "header of the original message",
        "headers of the original message",
        "original message header",
        "your message reads",
        "content-type: message/rfc822",
        "returned message follows",
        "message text follows",
        "original mail as follows",
    ]

    static let messageHeaderNames: Set<String> = [
        "received", "return-path", "from", "to", "cc", "subject", "date", "message-id", "mime-version",
        "content-type", "dkim-signature", "reply-to", "sender", "x-mailer", "delivered-to", "content-transfer-encoding",
    ]
    /// Fields only a real header block has (a summary "To: / Subject: / Date:" in a notification has none).
    static let traceHeaderNames: Set<String> = [
        "received", "return-path", "message-id", "mime-version", "dkim-signature", "delivered-to", "content-type",
        "content-transfer-encoding", "x-mailer", "authentication-results", "x-originating-ip", "references", "in-reply-to",
    ]

    /// The text before the returned message: cut at a marker line, or where three consecutive lines
    /// are message header fields (two of them common ones: Received, From, Subject…).
    static func cutReturnedMessage(_ text: String) -> String {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        var offset = text.startIndex
        var run = 0, common = 0, trace = 0
        var runStart = text.startIndex
        var sawContent = false
        for line in lines.prefix(maximumLines) {
            let lower = line.lowercased()
            if sawContent, lower.count < 200, returnedMessageMarkers.contains(where: { lower.contains($0) }) {
                return String(text[..<offset])
            }
            if let name = headerName(line) {
                if run == 0 { runStart = offset; common = 0; trace = 0 }
                run += 1
                if messageHeaderNames.contains(name) { common += 1 }
                if traceHeaderNames.contains(name) || name.hasPrefix("x-") { trace += 1 }
                if run >= 3, common >= 2, trace >= 1, sawContent { return String(text[..<runStart]) }
            } else if line.first == " " || line.first == "\t", run > 0 {
                // folded continuation of a header: keep the run going
            } else {
                run = 0
            }
            if !line.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) { sawContent = true }
            offset = line.endIndex < text.endIndex ? text.index(after: line.endIndex) : text.endIndex
        }
        return text
    }

    /// The lower-cased field name when `line` looks like `Name: value`, else `nil`.
    static func headerName(_ line: Substring) -> String? {
        guard let colon = line.firstIndex(of: ":"), colon > line.startIndex else { return nil }
        let name = line[..<colon]
        guard name.count <= 40, name.unicodeScalars.allSatisfy({ ($0.value >= 0x21 && $0.value <= 0x7E) }),
              name.first?.isLetter == true else { return nil }
        return name.lowercased()
    }

    // MARK: What kind of message

    /// Whether the message says it is a bounce: a mailer-daemon / postmaster sender, a bounce
    /// subject, an `X-Failed-Recipients:` header, or the wording of a failure report.
    static func isBounce(_ message: MIMEEntity, notification: String) -> Bool {
        if hasBounceHeaders(message) { return true }
        let head = String(notification.prefix(4096))
        return saysFailed(head) || (hasReplyLine(head) && !addresses(in: head).isEmpty)
    }

    /// Whether the message's own header fields say it is a bounce: `X-Failed-Recipients`, a
    /// mailer-daemon / postmaster / mail-system sender, a bounce subject. An automatic reply (RFC
    /// 3834) without any of these is an auto-reply whatever its text says ("could not be delivered
    /// to me right now: I am on vacation"): the text alone does not make it a bounce.
    static func hasBounceHeaders(_ message: MIMEEntity) -> Bool {
        let h = message.headers
        if h.has("X-Failed-Recipients") { return true }
        let from = (h["From"] ?? "").lowercased()
        if from.contains("mailer-daemon") || from.contains("postmaster") || from.contains("post_master") || from.contains("mail delivery")
            || from.contains("mail administrator") || from.contains("mailer daemon") || from.contains("mail system") {
            return true
        }
        let subject = MIME.decodeEncodedWords(h["Subject"] ?? "").lowercased()
        return bounceSubject(subject)
    }

    /// Whether a line of `text` starts with an SMTP failure reply (`550 …`, `550-…`, `451 …`).
    static func hasReplyLine(_ text: String) -> Bool {
        for line in text.split(separator: "\n").prefix(400) {
            let t = line.drop(while: { $0 == " " || $0 == "\t" || $0 == "<" })
            let u = Array(t.utf8.prefix(4))
            if u.count == 4, u[0] == 0x34 || u[0] == 0x35, (0x30...0x39).contains(u[1]), (0x30...0x39).contains(u[2]),
               u[3] == 0x20 || u[3] == 0x2D { return true }
        }
        return false
    }

    static let bounceSubjectFragments = [
        "undeliver", "undelivered", "delivery status notification", "delivery failure", "failure notice", "returned mail",
        "delivery failed", "mail delivery", "non-delivery", "nondeliverable", "non delivery", "could not be delivered",
        "delivery notification", "delivery has failed", "not delivered", "delivery problem", "mail system error",
        "delayed mail", "delivery delayed", "warning: could not send", "bounce", "rejected", "mail failure",
        "permanent error", "unable to deliver", "message status", "returned to sender", "message you sent",
        "notification d'état de la distribution", "nicht zustellbar", "unzustellbar", "failed delivery", "delivery report",
    ]

    static func bounceSubject(_ subject: String) -> Bool {
        bounceSubjectFragments.contains { subject.contains($0) }
    }

    /// Whether a plain-text notification reports success, not failure: a delivery or relay receipt
    /// (Exchange's "Delivered: …" / "Relayed: …" subjects, a DSN "(Success)" subject, GroupWise's
    /// "Message status - delivered" or "- opened" — ezmlm-weed(1) lists them as receipts to drop) or a
    /// read receipt ("Read: …"), whose text has no failure wording and no SMTP failure reply. Such a
    /// message is no failure of anyone: counted, never read as a bounce.
    static func isSuccessNotice(_ message: MIMEEntity, notification: String) -> Bool {
        let subject = MIME.decodeEncodedWords(message.headers["Subject"] ?? "").lowercased().mimeTrimmed()
        let successSubject = ["delivered:", "relayed:", "read:", "delivery receipt", "read receipt", "message status - delivered",
                              "message status - opened", "message status - read", "message status - completed"].contains { subject.hasPrefix($0) }
            || subject.contains("(success)") || subject.contains("(delivered)") || subject.contains("successful delivery")
        guard successSubject else { return false }
        let head = String(notification.prefix(8192)).lowercased()
        let failureHints = ["fail", "undeliver", "could not", "couldn't", "unable to", "reject", "error", "not delivered",
                            "wasn't delivered", "was not", "bounce", "denied", "refused", "expired", "delay"]
        return !failureHints.contains { head.contains($0) } && !hasReplyLine(head)
    }

    /// Whether the text reports that delivery failed (the wording of bounce notifications).
    static func saysFailed(_ text: String) -> Bool {
        let lower = text.lowercased()
        return failureWording.contains { lower.contains($0) }
    }

    static let failureWording = [
        "could not be delivered", "couldn't be delivered", "was not delivered", "wasn't delivered", "delivery has failed",
        "delivery to the following recipient", "permanent fatal error", "following address(es) failed", "unable to deliver",
        "undeliverable", "delivery failed", "failed to deliver", "this is the qmail-send program", "could not deliver",
        "message could not be sent", "permanent error", "was undeliverable", "returned to sender", "returned mail",
        "mail delivery failed", "delivery failure", "not be delivered", "did not reach", "was rejected", "has been rejected",
        "error delivering", "delivery to these recipients", "non-delivery", "delivery status notification",
        "unable to send", "problem delivering", "message was blocked", "message not delivered", "fatal error",
    ]

    /// The address `final` was expanded or generated from, when the notification says so right after
    /// naming it: Postfix "<final> (expanded from <original>)" (its bounce(5) text), Exim
    /// "final\n    (generated from original)". `nil` otherwise, or when that is not an address.
    static func originalAddress(of final: String, in notification: String) -> String? {
        // An address character around a hit means the hit is inside a longer address (joann@ holds ann@).
        func isAddressCharacter(_ c: Character) -> Bool {
            c.isLetter || c.isNumber || "._%+-=!#$&'*/?^`{|}~@".contains(c)
        }
        var from = notification.startIndex
        while let hit = notification.range(of: final, options: .caseInsensitive, range: from..<notification.endIndex) {
            from = hit.upperBound
            if hit.lowerBound > notification.startIndex, isAddressCharacter(notification[notification.index(before: hit.lowerBound)]) { continue }
            if hit.upperBound < notification.endIndex, isAddressCharacter(notification[hit.upperBound]) { continue }
            let after = notification[hit.upperBound...].prefix(160)
            // The same line or the next one, before any other address.
            let window = after.split(separator: "\n", maxSplits: 2, omittingEmptySubsequences: false).prefix(2).joined(separator: " ")
            for marker in ["(expanded from", "(generated from"] {
                guard let m = window.range(of: marker, options: .caseInsensitive) else { continue }
                guard !window[..<m.lowerBound].contains("@") else { continue }
                var rest = window[m.upperBound...].drop(while: { $0 == " " || $0 == "<" })
                if let end = rest.firstIndex(where: { $0 == ">" || $0 == ")" || $0 == " " }) { rest = rest[..<end] }
                if let address = Address.normalize(String(rest)) { return address }
            }
        }
        return nil
    }

    /// Whether the message is an automatic reply (RFC 3834): `Auto-Submitted:` other than `no`,
    /// `X-Autoreply`, `X-Autorespond`, `Precedence: auto_reply`, `X-Apple-Action: VACATION`, or an
    /// out-of-office / vacation / automatic-reply subject.
    static func isAutoReply(_ message: MIMEEntity) -> Bool {
        let h = message.headers
        if let a = h["Auto-Submitted"]?.lowercased().mimeTrimmed(), !a.isEmpty, !a.hasPrefix("no") { return true }
        if h.has("X-Autoreply") || h.has("X-Autorespond") || h.has("X-Autoresponder") { return true }
        if (h["Precedence"] ?? "").lowercased().contains("auto_reply") { return true }
        if (h["X-Apple-Action"] ?? "").lowercased().contains("vacation") { return true }
        let subject = MIME.decodeEncodedWords(h["Subject"] ?? "").lowercased()
        return autoReplySubjectFragments.contains { subject.contains($0) }
    }

    static let autoReplySubjectFragments = [
        "out of office", "out of the office", "automatic reply", "auto reply", "auto-reply", "autoreply", "auto response",
        "auto-response", "autoresponse", "automatic response", "vacation", "away from", "on leave", "abwesenheit",
        "réponse automatique", "reponse automatique", "respuesta automática", "risposta automatica", "automatisch antwoord",
        "automatische antwort", "absence",
    ]

    // MARK: Kind of failure

    /// Whether the text says the message expired: the MTA gave up after its queue lifetime —
    /// Exim "retry timeout exceeded", qmail "been in the queue too long", Postfix "could not be
    /// delivered for 5 days", Sendmail "Cannot send message for 5 days" (sendmail's `Timeout.queuereturn`
    /// DSN text), Exchange "couldn't be delivered within the configured expiration time" (NDR 4.4.7,
    /// Microsoft Learn "Message expired"), RFC 3463 X.4.7 "delivery time expired".
    static func saysExpired(_ text: String) -> Bool {
        let lower = text.lowercased()
        guard expiryHints.contains(where: { lower.contains($0) }) else { return false }
        return (try? expiryPattern.firstMatch(in: lower)) != nil
    }

    /// Cheap pre-filter of ``expiryPattern``.
    static let expiryHints = ["expire", "expiration", "queue", "too old", "time", "deliver", "retr", "attempts", "aborted", "lifetime", "cannot send"]

    // Invariant for nonisolated(unsafe): built once, only read; a Regex holds immutable program state.
    nonisolated(unsafe) static let expiryPattern: Regex<AnyRegexOutput> = {
        let pattern = "message (has )?expired|delivery time expired|retry time(out)? (not reached for any host after a long failure period|exceeded)|too long in (the )?queue|in the queue too long|been in the queue|too old|exceeded (the )?max(imum)? (delivery |queue )?time|message timeout|queue (life ?)?time|delivery expired|expired after|expired in queue|could not (be )?deliver(ed)? (for|within) (the last )?[0-9]|has been undeliverable for|undeliverable for more than|lifetime exceeded|message timed out|time limit exceeded|no successful delivery after|unable to deliver for|retry limit exceeded|failed [0-9]+ attempts|after multiple retries|aborted after [0-9]|cannot send message for [0-9]+ (day|hour|minute)|(could not|couldn'?t|can ?not) be delivered within the (configured |allowed |specified )?(time limit|expiration time|time allowed)|message expiration time"
        do { return try Regex(pattern) } catch { preconditionFailure("expiry pattern: \(error)") }
    }()

    /// Whether the text says delivery is only delayed (a warning; the MTA keeps trying).
    static func saysDelayed(_ text: String) -> Bool {
        let lower = text.lowercased()
        return delayWording.contains { lower.contains($0) }
    }

    static let delayWording = [
        "has not yet been delivered", "not yet been delivered", "delivery is delayed", "delivery has been delayed", "delivery delayed",
        "will continue to try", "will keep trying", "will retry", "still trying", "still undelivered", "delayed mail",
        "this is only a warning", "you do not need to resend", "no need to resend", "will be retried", "warning: message",
        "temporarily deferred", "delivery attempts will continue",
    ]

    /// A plain-text bounce's kind: a timeout when the text says the message expired, a retry when the
    /// notification says delivery is only delayed (and nothing says it failed), else a final bounce.
    enum PlainKind { case bounce, retry, timeout }

    static func saysFailedPermanently(_ text: String) -> Bool {
        let lower = text.lowercased()
        return ["permanent", "could not be delivered", "was not delivered", "failed", "undeliverable", "unable to deliver"].contains { lower.contains($0) }
    }

    // MARK: Recipients

    /// The failed recipients of a plain-text bounce, normalised, in order: `X-Failed-Recipients:`,
    /// else the addresses the notification reports (not the sender's, the bounce's own or
    /// postmaster / mailer-daemon addresses), else the returned message's `To:`, else the bounce's
    /// `X-Original-To:`.
    static func failedRecipients(message: MIMEEntity, notification: String) -> [String] {
        let h = message.headers
        var excluded = Set<String>()
        for name in ["To", "Cc", "From", "Return-Path", "Reply-To", "Sender", "Errors-To", "Delivered-To"] {
            for v in h.all(name) { for a in addresses(in: v) { excluded.insert(a.lowercased()) } }
        }
        let returned = DSNContext.returnedHeaders(in: message)
        for r in returned {
            for name in ["From", "Return-Path", "Sender", "Reply-To"] {
                for v in r.all(name) { for a in addresses(in: v) { excluded.insert(a.lowercased()) } }
            }
        }
        var out: [String] = []
        func add(_ a: String) {
            guard let n = Address.normalize(a), !out.contains(where: { $0.lowercased() == n.lowercased() }) else { return }
            out.append(n)
        }
        if let failed = h["X-Failed-Recipients"] {
            for a in addresses(in: failed) { add(a) }
            if !out.isEmpty { return out }
        }
        for found in reportedAddresses(in: notification) {
            let lower = found.lowercased()
            guard !excluded.contains(lower), !isServiceAddress(lower) else { continue }
            add(found)
        }
        if !out.isEmpty { return out }
        for r in returned {
            for v in r.all("To") + r.all("Cc") { for a in addresses(in: v) where !isServiceAddress(a.lowercased()) { add(a) } }
        }
        if !out.isEmpty { return out }
        for v in h.all("X-Original-To") { for a in addresses(in: v) { add(a) } }
        if !out.isEmpty { return out }
        // A copy of the original's headers quoted in the text (not cut off as a separate part).
        for name in ["To"] {
            if let v = quotedHeader(name, in: fullText(message)) { for a in addresses(in: v) where !excluded.contains(a.lowercased()) { add(a) } }
        }
        return out
    }

    /// The whole text of the message's parts (with any quoted original), capped.
    static func fullText(_ message: MIMEEntity) -> String {
        var texts: [String] = []
        for e in message.allEntities where e.parts.isEmpty && (e.contentType.type == "text" || e.contentType.type == "message") {
            texts.append(MIME.decodeText(Array(e.decodedBody.prefix(maximumNotificationLength)), charset: e.contentType.parameters["charset"]))
        }
        return texts.joined(separator: "\n")
    }

    static func isServiceAddress(_ lower: String) -> Bool {
        let local = lower.split(separator: "@").first.map(String.init) ?? lower
        return ["postmaster", "mailer-daemon", "mailerdaemon", "mail-daemon", "abuse", "noreply", "no-reply", "hostmaster", "webmaster", "double-bounce", "mailer"].contains(local)
    }

    /// The addresses in a notification, in order of first appearance, leaving out those that follow
    /// `From:`, `MAIL FROM`, `Sender`, `Message-ID` and sit in URLs.
    static func reportedAddresses(in text: String) -> [String] {
        var out: [String] = []
        var seen = Set<String>()
        for line in text.split(separator: "\n", omittingEmptySubsequences: true).prefix(maximumLines) {
            let lowerLine = line.lowercased()
            let trimmed = lowerLine.drop(while: { $0 == " " || $0 == "\t" || $0 == ">" })
            if trimmed.hasPrefix("message-id") || trimmed.hasPrefix("in-reply-to") || trimmed.hasPrefix("references") || trimmed.hasPrefix("to:") || trimmed.hasPrefix("cc:")
                || trimmed.hasPrefix("from:") || trimmed.hasPrefix("sender:") || trimmed.hasPrefix("reply-to:") || trimmed.hasPrefix("return-path")
                || trimmed.hasPrefix("mail from") || trimmed.hasPrefix("envelope-from") || trimmed.hasPrefix("received:") {
                continue
            }
            for (address, range) in addressesWithRanges(in: line) {
                let tail = String(line[line.startIndex..<range.lowerBound].suffix(14)).lowercased()
                if tail.contains("from:") || tail.contains("from <") || tail.contains("sender") || tail.contains("mail from") || tail.hasSuffix("/") || tail.hasSuffix("=") || tail.hasSuffix("?") { continue }
                let key = address.lowercased()
                if seen.insert(key).inserted { out.append(address) }
            }
        }
        return out
    }

    static func isLocalChar(_ c: Unicode.Scalar) -> Bool {
        switch c {
        case "a"..."z", "A"..."Z", "0"..."9": return true
        case "!", "#", "$", "%", "&", "'", "*", "+", "-", "/", "=", "?", "^", "_", "`", "{", "|", "}", "~", ".": return true
        default: return false
        }
    }

    static func isDomainChar(_ c: Unicode.Scalar) -> Bool {
        switch c {
        case "a"..."z", "A"..."Z", "0"..."9", "-", ".", "_": return true
        default: return false
        }
    }

    /// The addresses (`local@domain.tld`) in `text`, in order.
    static func addresses(in text: String) -> [String] { addressesWithRanges(in: Substring(text)).map(\.0) }

    static func addressesWithRanges(in text: Substring) -> [(String, Range<String.Index>)] {
        var out: [(String, Range<String.Index>)] = []
        let scalars = text.unicodeScalars
        var i = scalars.startIndex
        var count = 0
        while i < scalars.endIndex, out.count < 200 {
            count += 1
            if count > 200_000 { break }
            guard scalars[i] == "@" else { i = scalars.index(after: i); continue }
            var s = i
            while s > scalars.startIndex {
                let p = scalars.index(before: s)
                guard isLocalChar(scalars[p]) else { break }
                s = p
                if scalars.distance(from: s, to: i) > 64 { break }
            }
            // A local part does not start or end with '.'; quotes and ':' / '=' cut prefixes like "rfc822;".
            while s < i, scalars[s] == "." || scalars[s] == "/" || scalars[s] == "=" || scalars[s] == "'" || scalars[s] == "?" { s = scalars.index(after: s) }
            var e = scalars.index(after: i)
            while e < scalars.endIndex, isDomainChar(scalars[e]), scalars.distance(from: i, to: e) < 256 { e = scalars.index(after: e) }
            var domainEnd = e
            while domainEnd > scalars.index(after: i) {
                let p = scalars.index(before: domainEnd)
                if scalars[p] == "." || scalars[p] == "-" { domainEnd = p } else { break }
            }
            let local = String(scalars[s..<i])
            let domain = String(scalars[scalars.index(after: i)..<domainEnd])
            if !local.isEmpty, local.last != ".", domain.contains("."), domain.first != ".", !domain.contains(".."),
               let last = domain.split(separator: ".").last, last.count >= 2, last.allSatisfy({ $0.isLetter }) || domain.hasPrefix("[") {
                out.append((local + "@" + domain, s..<domainEnd))
            }
            i = e > i ? e : scalars.index(after: i)
        }
        return out
    }

    // MARK: Error texts

    /// A notification split in lines, with the addresses each line names (lower-cased and
    /// normalised), computed once per message for ``errorText(for:others:in:)``.
    struct Lines {
        var lines: [Substring]
        var addresses: [Set<String>]

        init(_ notification: String) {
            lines = Array(notification.split(separator: "\n", omittingEmptySubsequences: false).prefix(DSNPlainText.maximumLines))
            addresses = lines.map { line in
                guard line.contains("@") else { return [] }
                var set = Set<String>()
                for (a, _) in DSNPlainText.addressesWithRanges(in: line) {
                    set.insert(a.lowercased())
                    if let n = Address.normalize(a) { set.insert(n.lowercased()) }
                }
                return set
            }
        }
    }

    /// The text about `recipient` in the notification: for each line that mentions the address,
    /// the lines before it in the same paragraph back to a line naming another recipient (transcripts
    /// write the server's reply before the `<address>... ` summary line), and the lines after it up
    /// to the next line naming another recipient; joined, white space collapsed, capped.
    static func errorText(for recipient: String, others: [String] = [], in notification: String) -> String {
        errorText(for: recipient, others: others, in: Lines(notification))
    }

    static func errorText(for recipient: String, others: [String], in index: Lines) -> String {
        let include = segment(of: recipient, others: others, in: index)
        return joined(index.lines, where: include)
    }

    /// The notification without the lines about the other recipients (their ``segment(of:others:in:)``):
    /// what a recipient whose own lines say too little may be qualified from — the report's common
    /// paragraphs and its own lines, never another recipient's reply (a qmail or Sendmail report lists
    /// one block per recipient, each with its own reason).
    static func commonText(for recipient: String, others: [String], in index: Lines) -> String {
        var excluded = [Bool](repeating: false, count: index.lines.count)
        let target = recipient.lowercased()
        for other in Set(others.map { $0.lowercased() }) where other != target {
            for (n, inOther) in segment(of: other, others: others, in: index).enumerated() where inOther { excluded[n] = true }
        }
        for (n, inOwn) in segment(of: recipient, others: others, in: index).enumerated() where inOwn { excluded[n] = false }
        return joined(index.lines, where: excluded.map { !$0 })
    }

    private static func joined(_ lines: [Substring], where include: [Bool]) -> String {
        var collected: [Substring] = []
        var size = 0
        for (n, line) in lines.enumerated() where include[n] {
            collected.append(line)
            size += line.utf8.count
            if size > DSNReader.maximumDiagnosticLength * 2 { break }
        }
        return capped(DSNStatusReport.collapseSpace(collected.joined(separator: "\n")))
    }

    /// Which lines of the notification are about `recipient` (``errorText(for:others:in:)``).
    static func segment(of recipient: String, others: [String], in index: Lines) -> [Bool] {
        let lines = index.lines
        guard !lines.isEmpty else { return [] }
        let target = recipient.lowercased()
        let otherSet = Set(others.map { $0.lowercased() }).subtracting([target])
        enum Mention { case none, target, other }
        let mentions: [Mention] = index.addresses.map { found in
            if found.isEmpty { return .none }
            if found.contains(target) { return .target }
            if !found.isDisjoint(with: otherSet) { return .other }
            return .none
        }
        var include = [Bool](repeating: false, count: lines.count)
        var inSegment = false
        var summaryMention = false
        for (n, mention) in mentions.enumerated() {
            switch mention {
            case .target:
                inSegment = true
                // A Sendmail-style summary line ("554 <address>... reason") closes its transcript
                // block: the server's reply came before it, the next block is another recipient's.
                summaryMention = startsWithReplyCode(lines[n])
                // Back through the paragraph, up to a line about another recipient, an earlier
                // summary line, or the start of the transcript block ("While talking to …").
                var k = n - 1
                while k >= 0, k >= n - 12, mentions[k] != .other, !lines[k].allSatisfy({ $0 == " " || $0 == "\t" }), !include[k],
                      !startsWithReplyCode(lines[k]) {
                    include[k] = true
                    if lines[k].lowercased().contains("while talking to") { break }
                    k -= 1
                }
            case .other:
                inSegment = false
            case .none:
                if summaryMention, inSegment, startsWithReplyCode(lines[n]) || lines[n].lowercased().contains("while talking to")
                    || lines[n].drop(while: { $0 == " " }).hasPrefix(">>>") || lines[n].drop(while: { $0 == " " }).hasPrefix("<<<") {
                    inSegment = false
                }
            }
            if inSegment { include[n] = true }
        }
        return include
    }

    /// Whether `line` starts (after spaces) with a three-digit reply code and a space or `-`.
    static func startsWithReplyCode(_ line: Substring) -> Bool {
        let u = Array(line.drop(while: { $0 == " " || $0 == "\t" }).utf8.prefix(4))
        return u.count == 4 && (u[0] == 0x32 || u[0] == 0x34 || u[0] == 0x35) && (0x30...0x39).contains(u[1])
            && (0x30...0x39).contains(u[2]) && (u[3] == 0x20 || u[3] == 0x2D)
    }

    /// Whether a diagnostic says too little to qualify: no code and fewer than 12 letters once
    /// addresses are removed.
    static func isUninformative(_ text: String) -> Bool {
        if TextQualifier.enhancedStatus(in: text) != nil || TextQualifier.replyCode(in: text) != nil { return false }
        var rest = text
        for a in addresses(in: text) { rest = rest.replacingAll(a, with: "") }
        return rest.unicodeScalars.filter { $0.properties.isAlphabetic }.count < 12
    }

    /// `text` cut to ``DSNReader/maximumDiagnosticLength`` UTF-8 bytes (on a character boundary).
    static func capped(_ text: String) -> String {
        guard text.utf8.count > DSNReader.maximumDiagnosticLength else { return text }
        var out = ""
        var n = 0
        for c in text {
            n += c.utf8.count
            if n > DSNReader.maximumDiagnosticLength { break }
            out.append(c)
        }
        return out
    }

    /// The value of a header line `Name: value` quoted in a text (a returned message pasted inline).
    /// The values of the fields `name:` quoted in `text` (a copy of the returned message's headers),
    /// in order, at most 20, unfolded: continuation lines (starting with a blank, at most 20) joined
    /// with a space. Lines may be quoted with `>` (and a blank after it).
    static func quotedFields(_ name: String, in text: String) -> [String] {
        let key = name.lowercased() + ":"
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).prefix(20000)
        // A quoted line: its `>` marks and one blank after them (`> Received: …`, `> \tby …`).
        func unquoted(_ line: Substring) -> Substring {
            guard line.first == ">" else { return line }
            let rest = line.drop(while: { $0 == ">" })
            return rest.first == " " ? rest.dropFirst() : rest
        }
        var out: [String] = []
        var i = lines.startIndex
        while i < lines.endIndex, out.count < 20 {
            let t = unquoted(lines[i])
            guard t.count > key.count, t.prefix(key.count).lowercased() == key else { i += 1; continue }
            var value = String(t.dropFirst(key.count))
            var k = i + 1
            while k < lines.endIndex, k - i <= 20 {
                let next = unquoted(lines[k])
                guard let first = next.first, first == " " || first == "\t" else { break }
                value += " " + next.mimeTrimmed()
                k += 1
            }
            let v = value.mimeTrimmed()
            if !v.isEmpty { out.append(String(v)) }
            i = k
        }
        return out
    }

    /// The field `name` of the header block, quoted in `text`, that holds a field `anchor` (the
    /// delivery header): the block is the run of non-empty lines around the anchor's line. `nil` when
    /// there is no such block or field.
    static func quotedBlockHeader(_ name: String, anchor: String, in text: String) -> String? {
        // Each line without its quote markers ("> "), as written (a folded field's continuation
        // starts with white space, RFC 5322 §2.2.3), and without leading white space.
        let raw = text.split(separator: "\n", omittingEmptySubsequences: false).prefix(20000).map { line -> String in
            var l = line
            if l.first == ">" {
                l = l.drop(while: { $0 == ">" })
                if l.first == " " { l = l.dropFirst() }   // "> To: …": the marker's space
            }
            return l.trimmingCharacters(in: .init(charactersIn: "\r"))
        }
        let lines = raw.map { $0.drop(while: { $0 == " " || $0 == "\t" }) }
        let anchorKey = anchor.lowercased() + ":", key = name.lowercased() + ":"
        guard let at = lines.firstIndex(where: { $0.lowercased().hasPrefix(anchorKey) }) else { return nil }
        var first = at, last = at
        while first > 0, !lines[first - 1].isEmpty { first -= 1 }
        while last + 1 < lines.count, !lines[last + 1].isEmpty { last += 1 }
        var n = first
        while n <= last {
            if lines[n].lowercased().hasPrefix(key) {
                var v = String(lines[n].dropFirst(key.count))
                var k = n + 1
                while k <= last, let c = raw[k].first, c == " " || c == "\t" {
                    v += " " + lines[k]
                    k += 1
                }
                let trimmed = v.mimeTrimmed()
                if !trimmed.isEmpty { return String(trimmed.prefix(998)) }
            }
            n += 1
        }
        return nil
    }

    static func quotedHeader(_ name: String, in text: String) -> String? {
        let key = name.lowercased() + ":"
        for line in text.split(separator: "\n").prefix(20000) {
            let t = line.drop(while: { $0 == " " || $0 == "\t" || $0 == ">" })
            guard t.count > key.count, t.prefix(key.count).lowercased() == key else { continue }
            let v = t.dropFirst(key.count).mimeTrimmed()
            if !v.isEmpty { return String(v.prefix(Event.maximumIdLength)) }
        }
        return nil
    }
}
