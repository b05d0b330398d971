import Crypto
import DeliveryLedger

/// Rules shared by the readers (internal): instants, numbers, status codes, qualification, ids.
enum IngestRules {
    // MARK: Instants (domain.md §7)

    /// An epoch number at or above this is milliseconds, below it seconds.
    ///
    /// 100_000_000_000 seconds is the year 5138, while 100_000_000_000 milliseconds is 1973-03-03:
    /// no real feed confuses the two (domain.md §7: "input may be epoch seconds (number or string),
    /// epoch milliseconds, or RFC 3339 with offset").
    static let millisecondThreshold: Int64 = 100_000_000_000

    /// The message used when an instant cannot be read.
    static func badInstantMessage(_ value: JSONValue) -> String {
        "not an epoch number or RFC 3339 instant: \(value.snippet)"
    }

    /// Reads an instant: an epoch number (JSON integer or fraction, or a string of digits with an
    /// optional `.fraction`) in seconds, or in milliseconds when ≥ ``millisecondThreshold``; or RFC 3339 /
    /// ISO 8601 text with an offset (`Instant(rfc3339:)`). Fractions finer than a millisecond are
    /// truncated, as `Instant(rfc3339:)` does. Negative numbers are refused.
    ///
    /// - Returns: the instant, or `nil` when the value is none of these (or an impossible date).
    static func instant(from value: JSONValue) -> Instant? {
        switch value {
        case .int(let v):
            guard v >= 0 else { return nil }
            return v >= millisecondThreshold ? Instant(millisecondsSinceEpoch: v) : Instant(millisecondsSinceEpoch: v * 1000)
        case .double(let d):
            guard d.isFinite, d >= 0 else { return nil }
            if d >= Double(millisecondThreshold) {
                guard d < 9.0e15 else { return nil }
                return Instant(millisecondsSinceEpoch: Int64(d.rounded(.down)))
            }
            // d * 1000 < 1e14 < 2^53: exact to far below a millisecond; the 0.001 guards against
            // binary fractions just below a decimal one (1454442600.123 is 1454442600.12299990…).
            return Instant(millisecondsSinceEpoch: Int64((d * 1000 + 0.001).rounded(.down)))
        case .string(let s):
            if let ms = epochMilliseconds(digits: s) { return Instant(millisecondsSinceEpoch: ms) }
            return Instant(rfc3339: s)
        default:
            return nil
        }
    }

    /// `"1454442600"`, `"1454442600.250"`, `"1454442600250"` → milliseconds; `nil` for anything else.
    static func epochMilliseconds(digits s: String) -> Int64? {
        let utf8 = Array(s.utf8)
        guard !utf8.isEmpty else { return nil }
        var whole: Int64 = 0
        var i = 0
        var wholeDigits = 0
        while i < utf8.count, utf8[i] >= 48, utf8[i] <= 57 {
            guard wholeDigits < 17 else { return nil }
            whole = whole * 10 + Int64(utf8[i] - 48)
            wholeDigits += 1
            i += 1
        }
        guard wholeDigits > 0 else { return nil }
        var fraction: Int64 = 0
        var fractionDigits = 0
        if i < utf8.count {
            guard utf8[i] == UInt8(ascii: ".") else { return nil }
            i += 1
            while i < utf8.count, utf8[i] >= 48, utf8[i] <= 57 {
                if fractionDigits < 3 { fraction = fraction * 10 + Int64(utf8[i] - 48) }
                fractionDigits += 1
                i += 1
            }
            guard fractionDigits > 0, i == utf8.count else { return nil }
        }
        if whole >= millisecondThreshold { return whole }
        for _ in min(fractionDigits, 3)..<3 { fraction *= 10 }
        return whole * 1000 + fraction
    }

    // MARK: Numbers

    /// An integer from a JSON integer, an integral JSON number, or (when `allowString`) a string of
    /// an optional `-` and digits with surrounding white space.
    static func integer(_ value: JSONValue, allowString: Bool) -> Int64? {
        switch value {
        case .int(let i):
            return i
        case .double(let d):
            guard d.isFinite, d.rounded() == d, abs(d) < 9.0e15 else { return nil }
            return Int64(d)
        case .string(var s) where allowString:
            // Digits alone (what feeds send: "550", "10") are read from the bytes; anything else
            // (blanks around, a sign) goes through the trimmed text.
            if let digits = s.withUTF8({ u -> Int64? in
                guard !u.isEmpty, u.count <= 18, u.allSatisfy({ $0 &- 0x30 <= 9 }) else { return nil }
                return u.reduce(0) { $0 * 10 + Int64($1 &- 0x30) }
            }) { return digits }
            let t = s.trimmingWhitespace
            guard !t.isEmpty, t.utf8.count <= 18 else { return nil }
            return Int64(t)
        default:
            return nil
        }
    }

    // MARK: Enhanced status codes (RFC 3463)

    /// The first RFC 3463 enhanced status code in a reply text: `class.subject.detail` with class
    /// 2, 4 or 5 and 1–3 digit parts without leading zeros, not touching other digits or dots (so
    /// `550 5.1.1 …` and `550-5.1.1 …` give `5.1.1`, an IP address `17.99.99.99` gives nothing).
    static func firstEnhancedStatus(in text: String) -> String? {
        let b = Array(text.utf8)
        func isDigit(_ i: Int) -> Bool { i >= 0 && i < b.count && b[i] >= 48 && b[i] <= 57 }
        func isDot(_ i: Int) -> Bool { i >= 0 && i < b.count && b[i] == UInt8(ascii: ".") }
        var i = 0
        while i < b.count {
            defer { i += 1 }
            guard b[i] == UInt8(ascii: "2") || b[i] == UInt8(ascii: "4") || b[i] == UInt8(ascii: "5") else { continue }
            guard !isDigit(i - 1), !isDot(i - 1), isDot(i + 1) else { continue }
            var j = i + 2
            let s0 = j
            while isDigit(j) { j += 1 }
            guard j - s0 >= 1, j - s0 <= 3, isDot(j) else { continue }
            j += 1
            let d0 = j
            while isDigit(j) { j += 1 }
            guard j - d0 >= 1, j - d0 <= 3, !isDot(j), !isDigit(j) else { continue }
            let candidate = String(decoding: b[i..<j], as: UTF8.self)
            if EnhancedStatusCode(candidate) != nil { return candidate }
        }
        return nil
    }

    // MARK: Qualification (domain.md §5)

    /// What a bounce class, codes and text make of a failure when the source gives no qualification
    /// (domain.md §5.2, §5.3), and the qualifier that decided:
    /// - a bounce class whose ``BounceClassTable/effect(of:)`` is `.failure` gives its qualification
    ///   (qualifier ``BounceClassTable/version``);
    /// - otherwise the text rules qualify the response with its codes (``TextQualifier``; qualifier
    ///   ``TextQualification/qualifierTag``, so a new rule table re-qualifies by re-projection);
    /// - a `timeout` is soft: the MTA gave up because the validity ran out (domain.md §1, §4), and a
    ///   reason the class or text leaves undefined is Unreachable (RFC 3463 X.4.7 "delivery time expired");
    /// - a `retry`, a non-final `bounce`, a 4xx reply or a class-4 enhanced code is never hard
    ///   (domain.md §5.1; §5.2: "a SparkPost `delay` with any class is a `retry`").
    ///
    /// - class 25 "Admin Failure" gives way to the text rules when they say the failure concerns the
    ///   sender, the content or the session (``TextQualifier/overridingBounceClass(_:text:enhancedStatus:replyCode:context:)``;
    ///   qualifier the text tag): SparkPost's class 25 covers its policies, not only its suppression list.
    ///
    /// Callers handle the non-failure effects (auto-reply, unsubscribe, subscribe) first.
    static func derivedQualification(kind: EventKind, final: Bool, bounceClass: Int?, smtpCode: Int?, enhancedStatus: String?,
                                     text: String?, recipient: String = "", raw: [UInt8] = [],
                                     source: SourceFormat = .api) -> (qualification: Qualification, qualifier: String) {
        let enhanced = enhancedStatus.flatMap { EnhancedStatusCode($0) }
        var q: Qualification
        let qualifier: String
        let rules = TextQualifier.builtIn
        // The context the projection reads when it re-qualifies the event (QualificationContext(event:)),
        // read only when a host-aware rule needs it.
        func context() -> QualificationContext { QualificationContext(recipient: recipient, response: text, raw: raw, source: source) }
        if let c = bounceClass, case .failure(let fromClass)? = BounceClassTable.effect(of: c) {
            if let r = rules.overridingBounceClass(c, text: text, enhancedStatus: enhancedStatus, replyCode: smtpCode, context: context()) {
                q = r.qualification
                qualifier = r.qualifierTag
            } else {
                q = fromClass
                qualifier = BounceClassTable.version
            }
        } else {
            let r = rules.qualify(text: text ?? "", enhancedStatus: enhancedStatus, replyCode: smtpCode, context: context())
            q = r.qualification
            qualifier = r.qualifierTag
        }
        if kind == .timeout { q = q.forTimeout }
        let temporaryCode = (smtpCode.map { (400..<500).contains($0) } ?? false) || (enhanced?.isTemporary ?? false)
        if kind == .retry || (kind == .bounce && !final) || temporaryCode { q = q.temporary }
        return (q, qualifier)
    }

    // MARK: Ids

    /// `sha256:` and the lower-case hex of the first 16 bytes of the SHA-256 of `bytes`.
    static func contentHashId(_ bytes: ArraySlice<UInt8>) -> String {
        let digest = SHA256.hash(data: bytes)
        let hexDigits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = Array("sha256:".utf8)
        out.reserveCapacity(7 + 32)
        for (n, byte) in digest.enumerated() where n < 16 {
            out.append(hexDigits[Int(byte >> 4)])
            out.append(hexDigits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension String {
    /// The string without leading and trailing spaces, tabs, CR and LF.
    var trimmingWhitespace: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\n" || f == "\r" || f == "\r\n" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\n" || l == "\r" || l == "\r\n" { s.removeLast() }
        return String(s)
    }
}
