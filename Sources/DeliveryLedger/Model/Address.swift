/// Recipient address normalisation (domain.md §2).
public enum Address {
    /// The longest address accepted, in UTF-8 bytes (RFC 5321 §4.5.3.1: 64-byte local part,
    /// 255-byte domain; we accept up to 320 to be lenient with what MTAs report).
    public static let maximumLength = 320

    /// Normalises an address: surrounding white space and angle brackets removed, the domain part
    /// lower-cased, the local part kept as sent (RFC 5321 §2.4: local parts may be case-sensitive).
    ///
    /// - Returns: the normalised address, or `nil` when the text is not `local@domain` with a
    ///   non-empty local part and domain, no white space or control characters, at most
    ///   ``maximumLength`` bytes.
    public static func normalize(_ text: String) -> String? {
        if let fast = normalizeASCII(text) { return fast.isEmpty ? nil : fast }
        var s = Substring(text)
        while let f = s.first, f == " " || f == "\t" || f == "<" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == ">" { s.removeLast() }
        guard let at = s.lastIndex(of: "@") else { return nil }
        let local = s[..<at]
        let domain = s[s.index(after: at)...]
        guard !local.isEmpty, !domain.isEmpty, s.utf8.count <= maximumLength else { return nil }
        for u in s.unicodeScalars where u.value <= 0x20 || u.value == 0x7F { return nil }
        return String(local) + "@" + domain.lowercased()
    }

    /// The same rules on ASCII text, byte by byte (the common case, without Unicode machinery):
    /// the normalised address, `""` when the text is not an address, `nil` when the text is not
    /// ASCII (the caller then applies the general rules).
    private static func normalizeASCII(_ text: String) -> String? {
        var copy = text
        return copy.withUTF8 { (b: UnsafeBufferPointer<UInt8>) -> String? in
            var lo = 0, hi = b.count
            for c in b where c >= 0x80 { return nil }
            while lo < hi, b[lo] == 0x20 || b[lo] == 0x09 || b[lo] == 0x3C { lo += 1 }
            while hi > lo, b[hi - 1] == 0x20 || b[hi - 1] == 0x09 || b[hi - 1] == 0x3E { hi -= 1 }
            guard hi - lo <= maximumLength else { return "" }
            var at = -1
            for i in lo..<hi {
                let c = b[i]
                if c <= 0x20 || c == 0x7F { return "" }
                if c == 0x40 { at = i }
            }
            guard at > lo, at < hi - 1 else { return "" }
            var needsLowering = false
            for i in (at + 1)..<hi where b[i] >= 0x41 && b[i] <= 0x5A { needsLowering = true; break }
            if !needsLowering, lo == 0, hi == b.count { return text }
            return String(unsafeUninitializedCapacity: hi - lo) { out in
                for i in lo..<hi {
                    let c = b[i]
                    out[i - lo] = i > at && c >= 0x41 && c <= 0x5A ? c + 0x20 : c
                }
                return hi - lo
            }
        }
    }

    /// The domain part of a normalised address (after the last `@`), or `""`.
    public static func domain(of address: String) -> String {
        guard let at = address.lastIndex(of: "@") else { return "" }
        return String(address[address.index(after: at)...])
    }
}

/// Why an event is not acceptable, naming the field at fault.
public struct EventValidationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The field of the canonical format at fault (e.g. `recipient`, `occurredAt`).
    public var field: String
    /// What is wrong, for people.
    public var message: String

    /// Creates an error for `field` with a message for people.
    public init(field: String, _ message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "field '\(field)': \(message)" }
}

extension Event {
    /// The longest event id accepted, in UTF-8 bytes (ids are not keys: they live in records).
    public static let maximumEventIdLength = 1024
    /// The longest delivery id accepted, in UTF-8 bytes (part of LMDB keys, whose limit is 511).
    public static let maximumIdLength = 255
    /// The longest response text kept, in UTF-8 bytes; longer texts are an error.
    public static let maximumResponseLength = 64 * 1024

    /// Checks the event's invariants (domain.md §2): ids present and short enough, the recipient a
    /// normalised address for message events and empty otherwise, instants in range, codes in range,
    /// and the fields each kind needs.
    ///
    /// - Throws: ``EventValidationError`` naming the first field at fault.
    public func validate() throws(EventValidationError) {
        guard !id.isEmpty, id.utf8.count <= Event.maximumEventIdLength else {
            throw EventValidationError(field: "id", "must be 1 to \(Event.maximumEventIdLength) bytes")
        }
        try Event.refuseControlCharacters(id, field: "id")
        if let l = label { try Event.refuseControlCharacters(l, field: "label") }
        guard occurredAt.isInAcceptedRange else {
            throw EventValidationError(field: "occurredAt", "instant \(occurredAt.millisecondsSinceEpoch) ms is outside 1970-01-01..9999-12-31")
        }
        switch kind {
        case .efsFlag:
            guard delivery.isEmpty else { throw EventValidationError(field: "delivery", "an efsFlag event is instance-wide and has no delivery") }
            guard recipient.isEmpty else { throw EventValidationError(field: "recipient", "an efsFlag event has no recipient") }
            guard enabled != nil else { throw EventValidationError(field: "enabled", "an efsFlag event needs enabled: true or false") }
        case .delivery:
            try validateDeliveryId()
            guard recipient.isEmpty else { throw EventValidationError(field: "recipient", "a delivery event has no recipient") }
            if let v = validitySeconds, v <= 0 { throw EventValidationError(field: "validitySeconds", "must be positive, got \(v)") }
            if let t = toDeliver, t < 0 { throw EventValidationError(field: "toDeliver", "must not be negative, got \(t)") }
        default:
            try validateDeliveryId()
            guard !recipient.isEmpty else { throw EventValidationError(field: "recipient", "missing: a \(kind.rawValue) event needs a recipient address") }
            guard recipient.utf8.count <= Address.maximumLength else {
                throw EventValidationError(field: "recipient", "longer than \(Address.maximumLength) bytes")
            }
            guard Address.normalize(recipient) == recipient else {
                throw EventValidationError(field: "recipient", "'\(recipient.prefix(80))' is not a normalised address (local@domain, domain lower-case)")
            }
        }
        if let c = bounceClass, !(1...999).contains(c) { throw EventValidationError(field: "bounceClass", "must be 1...999, got \(c)") }
        if let c = smtpCode, !(200...599).contains(c) { throw EventValidationError(field: "smtpCode", "must be an SMTP reply code 200...599, got \(c)") }
        if let s = enhancedStatus, EnhancedStatusCode(s) == nil {
            throw EventValidationError(field: "enhancedStatus", "'\(s.prefix(40))' is not an RFC 3463 code (class.subject.detail)")
        }
        if let r = response, r.utf8.count > Event.maximumResponseLength {
            throw EventValidationError(field: "response", "longer than \(Event.maximumResponseLength) bytes")
        }
        if let a = attempt, a < 0 { throw EventValidationError(field: "attempt", "must not be negative, got \(a)") }
        if let l = label, l.utf8.count > 1024 { throw EventValidationError(field: "label", "longer than 1024 bytes") }
        let isFailure = kind == .bounce || kind == .retry || kind == .timeout
        if isFailure, qualification == nil {
            throw EventValidationError(field: "failureType", "a \(kind.rawValue) event needs a qualification (failureType and failureReason)")
        }
        if !isFailure, qualification != nil {
            throw EventValidationError(field: "failureType", "only bounce, retry and timeout events carry a failure type and reason")
        }
        if !final && kind != .bounce && kind != .retry {
            throw EventValidationError(field: "final", "only a bounce can be non-final (a retry never is final, everything else always is)")
        }
        if beforeRelay && !(kind == .bounce && final) {
            throw EventValidationError(field: "beforeRelay", "only a final bounce can fail before relay")
        }
        let temporary = kind == .retry || kind == .timeout || (kind == .bounce && !final)
        if temporary, qualification?.type == .hard {
            throw EventValidationError(field: "failureType", "a \(kind == .timeout ? "timeout" : "temporary failure") is never hard (domain.md §4, §5.1)")
        }
    }

    private func validateDeliveryId() throws(EventValidationError) {
        guard !delivery.isEmpty else { throw EventValidationError(field: "delivery", "missing: a \(kind.rawValue) event needs a delivery id") }
        guard delivery.utf8.count <= Event.maximumIdLength else {
            throw EventValidationError(field: "delivery", "longer than \(Event.maximumIdLength) bytes")
        }
        try Event.refuseControlCharacters(delivery, field: "delivery")
    }

    /// Ids and labels are names people read and terminals print: a control character in one (C0,
    /// DEL, C1 — an escape sequence that retitles or clears a terminal, a NUL) is refused, naming its
    /// place, rather than stored and echoed (Unicode's Cc category; RFC 20 for the ASCII ones).
    static func refuseControlCharacters(_ text: String, field: String) throws(EventValidationError) {
        for (i, u) in text.unicodeScalars.enumerated() where u.value < 0x20 || (0x7F...0x9F).contains(u.value) {
            throw EventValidationError(field: field, "holds a control character (U+\(String(repeating: "0", count: max(0, 4 - String(u.value, radix: 16).count)) + String(u.value, radix: 16, uppercase: true))) at character \(i + 1)")
        }
    }
}
