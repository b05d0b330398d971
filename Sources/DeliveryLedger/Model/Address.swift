/// Recipient address normalisation (domain.md §2): one spelling per mailbox, so that two spellings of
/// the same mailbox are one recipient and a malformed address is refused, never kept as a recipient
/// of its own.
///
/// The rules (``parse(_:)``), in order:
/// 1. White space (spaces, tabs) around the text is removed.
/// 2. **One balanced pair of angle brackets is removed**: `<ann@example.com>` is `ann@example.com`
///    (an SMTP path, RFC 5321 §4.1.2 `Path = "<" Mailbox ">"`; RFC 5322 §3.4 `angle-addr`), white
///    space just inside them too. An unbalanced bracket (`<ann@example.com`, `ann@example.com>`) or
///    one left inside (`<<ann@example.com>>`) is refused: the text was cut or mangled, and guessing
///    would make a recipient nobody sent to.
/// 3. The address is `local@domain`, split at the **last** `@`; the local part and the domain are not
///    empty; an `@` in the local part is allowed only inside a quoted local part
///    (`"a@b"@example.com`, RFC 5321 §4.1.2 `Quoted-string`); no control character anywhere, no white
///    space but a space inside a quoted local part (`"john smith"@example.com`: `qtextSMTP` includes
///    it); at most ``maximumLength`` UTF-8 bytes.
/// 4. **One trailing dot of the domain is removed**: `ann@example.com.` is `ann@example.com` (the
///    dot is DNS's root label, RFC 1034 §3.1: an absolute name and the name without the dot are the
///    same domain). The domain's other labels are not empty (no leading dot, `..`, or second trailing
///    dot), and hold only what a host name holds: ASCII letters, digits and hyphens, a hyphen neither
///    first nor last in its label (RFC 5321 §4.1.2 `sub-domain = Let-dig [Ldh-str]`; RFC 1123 §2.1),
///    and non-ASCII characters (U-labels, RFC 6531 §3.3). An underscore is accepted too (DNS holds
///    such names, RFC 2181 §11, and MTAs report them). An address literal, `[192.0.2.1]` or
///    `[IPv6:…]` (RFC 5321 §4.1.3), is kept as written.
/// 5. The domain is lower-cased (domain names are case-insensitive, RFC 1035 §2.3.3; RFC 5321 §2.4);
///    the **local part is kept as sent** (RFC 5321 §2.4: it may be case-sensitive), and is otherwise
///    not judged (real mailboxes such as `foo.@docomo.ne.jp` break RFC 5322's dot-atom).
///
/// Addresses are then compared by their UTF-8 bytes (no Unicode normalisation): `é` and `e` + U+0301
/// are two recipients.
public enum Address {
    /// The longest address accepted, in UTF-8 bytes (RFC 5321 §4.5.3.1: 64-byte local part,
    /// 255-byte domain; we accept up to 320 to be lenient with what MTAs report).
    public static let maximumLength = 320

    /// Why a text is not an address (see ``Address`` for the rules); the description is for people
    /// and reads after "… is not an address: ".
    public enum SyntaxError: Error, Sendable, Hashable, CustomStringConvertible {
        /// Nothing but white space (or `<>`, SMTP's null path, which names no mailbox).
        case empty
        /// Longer than ``Address/maximumLength`` UTF-8 bytes (after brackets and white space).
        case tooLong(bytes: Int)
        /// A `<` at the start without a `>` at the end (`<ann@example.com`).
        case unclosedAngleBracket
        /// A `>` at the end without a `<` at the start (`ann@example.com>`).
        case unopenedAngleBracket
        /// A `<` or `>` inside the address, after one enclosing pair was removed (`<<a@b>>`, `a<b@c`).
        case angleBracketInside
        /// White space or a control character inside the address.
        case whiteSpaceOrControl
        /// No `@`.
        case missingAt
        /// Nothing before the `@`.
        case emptyLocalPart
        /// An `@` in a local part that is not quoted (`a@b@example.com`).
        case atInLocalPart
        /// Nothing after the `@` (or only the root's dot).
        case emptyDomain
        /// An empty label in the domain: a leading dot, `..`, or a second trailing dot.
        case emptyDomainLabel
        /// A character that no host name holds (ASCII other than letters, digits, `-`, `_` and `.`,
        /// outside an address literal).
        case invalidDomainCharacter(Character)
        /// A domain label that begins or ends with a hyphen (RFC 5321 §4.1.2 `Ldh-str`).
        case hyphenAtLabelEdge

        public var description: String {
            switch self {
            case .empty: "it is empty"
            case .tooLong(let bytes): "it is \(bytes) bytes long, more than \(Address.maximumLength)"
            case .unclosedAngleBracket: "'<' without a closing '>' (an address in angle brackets is written <local@domain>, RFC 5321 §4.1.2)"
            case .unopenedAngleBracket: "'>' without an opening '<' (an address in angle brackets is written <local@domain>, RFC 5321 §4.1.2)"
            case .angleBracketInside: "an angle bracket inside the address (only one pair around it is removed)"
            case .whiteSpaceOrControl: "white space or a control character inside the address"
            case .missingAt: "no '@' (local@domain)"
            case .emptyLocalPart: "nothing before the '@' (local@domain)"
            case .atInLocalPart: "more than one '@' (an '@' in the local part must be quoted, RFC 5321 §4.1.2)"
            case .emptyDomain: "nothing after the '@' (local@domain)"
            case .emptyDomainLabel: "an empty label in the domain (a leading dot, '..', or more than one trailing dot)"
            case .invalidDomainCharacter(let c): "'\(c)' in the domain, which no host name holds (RFC 5321 §4.1.2: letters, digits and hyphens)"
            case .hyphenAtLabelEdge: "a label of the domain begins or ends with '-' (RFC 5321 §4.1.2: a label ends with a letter or digit)"
            }
        }
    }

    /// Normalises an address by the rules of ``Address``: white space and one balanced pair of angle
    /// brackets removed, one trailing (root) dot of the domain removed, the domain lower-cased, the
    /// local part kept as sent.
    ///
    /// - Returns: the normalised address, or `nil` when the text is not an address (``parse(_:)``
    ///   says why).
    public static func normalize(_ text: String) -> String? {
        try? parse(text)
    }

    /// Normalises an address by the rules of ``Address``, or says why the text is not one.
    ///
    /// `parse(" <Ann@Example.COM.> ")` is `Ann@example.com`; `parse("<ann@example.com")` throws
    /// ``SyntaxError/unclosedAngleBracket``.
    ///
    /// - Returns: the normalised address (the same string when it was already normalised).
    /// - Throws: ``SyntaxError`` naming the first rule the text breaks.
    public static func parse(_ text: String) throws(SyntaxError) -> String {
        var copy = text
        let result = copy.withUTF8 { parse(utf8: $0) }
        switch result {
        case .success(let changed): return changed ?? text
        case .failure(let error): throw error
        }
    }

    /// The rules on the text's UTF-8 bytes (every byte that matters to them is ASCII): the normalised
    /// address, `nil` when it is the text itself, or the rule broken.
    private static func parse(utf8 b: UnsafeBufferPointer<UInt8>) -> Result<String?, SyntaxError> {
        var lo = 0, hi = b.count
        func trimWhiteSpace() {
            while lo < hi, b[lo] == 0x20 || b[lo] == 0x09 { lo += 1 }
            while hi > lo, b[hi - 1] == 0x20 || b[hi - 1] == 0x09 { hi -= 1 }
        }
        trimWhiteSpace()
        guard lo < hi else { return .failure(.empty) }
        let opens = b[lo] == 0x3C, closes = b[hi - 1] == 0x3E
        switch (opens, closes) {
        case (true, true) where hi - lo >= 2:
            lo += 1; hi -= 1
            trimWhiteSpace()
        case (true, _): return .failure(.unclosedAngleBracket)
        case (_, true): return .failure(.unopenedAngleBracket)
        default: break
        }
        guard lo < hi else { return .failure(.empty) }
        guard hi - lo <= maximumLength else { return .failure(.tooLong(bytes: hi - lo)) }
        var at = -1
        for i in lo..<hi where b[i] == 0x40 { at = i }
        // A quoted local part may hold spaces ("john smith"@example.com: RFC 5321 §4.1.2
        // Quoted-string, qtextSMTP includes the space); nothing else may.
        let quoted = at >= 0 && at - lo >= 2 && b[lo] == 0x22 && b[at - 1] == 0x22
        for i in lo..<hi {
            let c = b[i]
            if c == 0x3C || c == 0x3E { return .failure(.angleBracketInside) }
            if c == 0x20, quoted, i > lo, i < at - 1 { continue }
            if c <= 0x20 || c == 0x7F { return .failure(.whiteSpaceOrControl) }
        }
        guard at >= 0 else { return .failure(.missingAt) }
        guard at > lo else { return .failure(.emptyLocalPart) }
        if !quoted, b[lo..<at].contains(0x40) { return .failure(.atInLocalPart) }
        let domainStart = at + 1
        var domainEnd = hi
        if domainEnd > domainStart, b[domainEnd - 1] == 0x2E { domainEnd -= 1 }   // the root's dot
        guard domainEnd > domainStart else { return .failure(.emptyDomain) }
        if b[domainStart] == 0x5B {
            // An address literal, [192.0.2.1] or [IPv6:2001:db8::1] (RFC 5321 §4.1.3).
            guard domainEnd - domainStart >= 3, b[domainEnd - 1] == 0x5D else { return .failure(.invalidDomainCharacter("[")) }
            for i in (domainStart + 1)..<(domainEnd - 1) where b[i] == 0x5B || b[i] == 0x5D || b[i] == 0x5C {
                return .failure(.invalidDomainCharacter(Character(Unicode.Scalar(b[i]))))
            }
        } else {
            var previous: UInt8 = 0x2E   // a leading dot is an empty first label
            for i in domainStart..<domainEnd {
                let c = b[i]
                if c == 0x2E, previous == 0x2E { return .failure(.emptyDomainLabel) }
                if (c == 0x2E && previous == 0x2D) || (c == 0x2D && previous == 0x2E) { return .failure(.hyphenAtLabelEdge) }
                switch c {
                case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2D, 0x2E, 0x5F, 0x80...: previous = c   // 0-9 A-Z a-z - . _ and UTF-8
                default: return .failure(.invalidDomainCharacter(Character(Unicode.Scalar(c))))
                }
            }
            if previous == 0x2E { return .failure(.emptyDomainLabel) }
            if previous == 0x2D { return .failure(.hyphenAtLabelEdge) }
        }
        var upper = false, ascii = true
        for i in domainStart..<domainEnd {
            if b[i] >= 0x80 { ascii = false; break }
            if b[i] >= 0x41 && b[i] <= 0x5A { upper = true }
        }
        if !ascii {
            let local = String(decoding: UnsafeBufferPointer(rebasing: b[lo...at]), as: UTF8.self)
            let domain = String(decoding: UnsafeBufferPointer(rebasing: b[domainStart..<domainEnd]), as: UTF8.self)
            return .success(local + domain.lowercased())
        }
        if !upper, lo == 0, domainEnd == b.count { return .success(nil) }
        return .success(String(unsafeUninitializedCapacity: domainEnd - lo) { out in
            for i in lo..<domainEnd {
                let c = b[i]
                out[i - lo] = i > at && c >= 0x41 && c <= 0x5A ? c + 0x20 : c
            }
            return domainEnd - lo
        })
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
            // The counters' range (2^48 messages): a larger count was stored capped, and `project`
            // then showed the cap (found by a tester).
            if let t = toDeliver, t > DeliveryCounters.maximum {
                throw EventValidationError(field: "toDeliver", "must be at most \(DeliveryCounters.maximum) (2^48), got \(t)")
            }
        default:
            try validateDeliveryId()
            guard !recipient.isEmpty else { throw EventValidationError(field: "recipient", "missing: a \(kind.rawValue) event needs a recipient address") }
            guard recipient.utf8.count <= Address.maximumLength else {
                throw EventValidationError(field: "recipient", "longer than \(Address.maximumLength) bytes")
            }
            let normalised: String
            do { normalised = try Address.parse(recipient) } catch {
                throw EventValidationError(field: "recipient", "'\(recipient.prefix(80))' is not an address: \(error)")
            }
            guard normalised == recipient else {
                throw EventValidationError(field: "recipient", "'\(recipient.prefix(80))' is not a normalised address (it would be '\(normalised.prefix(80))': see Address)")
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
        // Most texts have no byte below 0x20, no DEL and no C2 lead byte (C1 controls are C2 80…C2 9F
        // in UTF-8): a byte scan answers them; the others are looked at scalar by scalar.
        var copy = text
        let clean = copy.withUTF8 { u in !u.contains { $0 < 0x20 || $0 == 0x7F || $0 == 0xC2 } }
        if clean { return }
        for (i, u) in text.unicodeScalars.enumerated() where u.value < 0x20 || (0x7F...0x9F).contains(u.value) {
            throw EventValidationError(field: field, "holds a control character (U+\(String(repeating: "0", count: max(0, 4 - String(u.value, radix: 16).count)) + String(u.value, radix: 16, uppercase: true))) at character \(i + 1)")
        }
    }
}
