#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What host-aware rules look at besides the failure text (issue #14): the remote host that
/// answered, the MTA that reported the failure, the recipient's domain and the reporting MTA's own
/// bounce category.
///
/// Qualification stays a pure function of the rule table and the event's observed fields:
/// ``init(event:)`` reads the context from the event itself (its recipient, response text and raw
/// source bytes), so the projection finds the same context when it re-qualifies an event with
/// another table. Host names are lower-case, without a trailing dot; an address literal
/// (`[192.0.2.1]`) is not a host name and is left out.
public struct QualificationContext: Sendable, Hashable {
    /// The remote host that answered (e.g. `lsean.ezweb.ne.jp`), if known.
    public var remoteHost: String?
    /// The MTA that reported the failure (DSN `Reporting-MTA`), if known.
    public var reportingMTA: String?
    /// The recipient's domain (e.g. `ezweb.ne.jp`), if known.
    public var recipientDomain: String?
    /// The reporting MTA's own classification of this recipient's failure, lower-case, if it
    /// wrote one: PowerMTA's `X-PowerMTA-BounceCategory` field in the DSN's recipient block
    /// (`bad-mailbox`, `inactive-mailbox`, `quota-issues`, `spam-related`…; PowerMTA User's Guide,
    /// "bounce categories").
    public var bounceCategory: String?

    /// Creates a context; every name is normalised as ``normalizedHost(_:)`` (`nil` when it is not
    /// a host name), the bounce category as ``normalizedCategory(_:)``.
    public init(remoteHost: String? = nil, reportingMTA: String? = nil, recipientDomain: String? = nil,
                bounceCategory: String? = nil) {
        self.remoteHost = remoteHost.flatMap(Self.normalizedHost)
        self.reportingMTA = reportingMTA.flatMap(Self.normalizedHost)
        self.recipientDomain = recipientDomain.flatMap(Self.normalizedHost)
        self.bounceCategory = bounceCategory.flatMap(Self.normalizedCategory)
    }

    /// No context: only text rules can match.
    public static let none = QualificationContext()

    /// The context of a failure event, from its observed fields:
    /// - recipient domain: the part of ``Event/recipient`` after its last `@`;
    /// - remote host: the `Remote-MTA:` field in ``Event/raw`` (RFC 3464 §2.3.5, a DSN's
    ///   per-recipient block), else Postfix's `relay=host[address]` in the raw log line, else the
    ///   first host name written before an address in brackets or parentheses in
    ///   ``Event/response`` (`host mx.example.com[192.0.2.1] said:` — Postfix; `mx.example.com
    ///   [192.0.2.1]` — Exim, Sendmail);
    /// - reporting MTA: the `Reporting-MTA:` field in ``Event/raw`` (RFC 3464 §2.2.2; the DSN reader
    ///   keeps the per-message fields before the recipient's block);
    /// - bounce category: the `X-PowerMTA-BounceCategory:` field in ``Event/raw`` (an extension
    ///   field of the recipient's block, RFC 3464 §2.4).
    public init(event e: Event) {
        self.init(recipient: e.recipient, response: e.response, raw: e.raw, source: e.source)
    }

    /// The context ``init(event:)`` reads from these fields of an event (for readers that qualify
    /// before they build the event).
    public init(recipient: String, response: String?, raw: [UInt8], source: SourceFormat) {
        var remote: String? = nil
        var reporting: String? = nil
        var category: String? = nil
        if !raw.isEmpty {
            remote = Self.fieldValue("remote-mta", in: raw).flatMap(Self.typedName)
            reporting = Self.fieldValue("reporting-mta", in: raw).flatMap(Self.typedName)
            category = Self.fieldValue("x-powermta-bouncecategory", in: raw)
            if remote == nil, source == .postfix { remote = Self.postfixRelay(in: raw) }
        }
        if remote == nil, let text = response { remote = Self.hostBeforeAddress(in: text) }
        let domain = recipient.lastIndex(of: "@").map { String(recipient[recipient.index(after: $0)...]) }
        self.init(remoteHost: remote, reportingMTA: reporting, recipientDomain: domain, bounceCategory: category)
    }

    /// `category` trimmed and lower-cased when it is a category token (ASCII letters, digits and
    /// hyphens, at most 64); `nil` otherwise.
    public static func normalizedCategory(_ category: String) -> String? {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        var t = Substring(category).drop(while: blank)
        while let last = t.last, blank(last) { t = t.dropLast() }
        let c = t.lowercased()
        return RuleTable.isCategory(c) ? c : nil
    }

    /// `name` lower-cased, without a trailing dot, when it is a host name (dot-separated labels of
    /// letters, digits and hyphens, RFC 1035 §2.3.1); `nil` otherwise (an address literal, empty).
    public static func normalizedHost(_ name: String) -> String? {
        // ASCII host names (nearly all) are checked and lower-cased byte by byte; any other text
        // goes through the general path (an internationalised name, or no host name at all).
        var name = name
        if let ascii = name.withUTF8({ u -> String? in
            var end = u.count
            while end > 0, u[end - 1] == UInt8(ascii: ".") { end -= 1 }
            guard end > 0, u.allSatisfy({ $0 < 0x80 }) else { return nil }
            var letter = false
            let lowered = [UInt8](unsafeUninitializedCapacity: end) { out, n in
                for k in 0..<end {
                    let c = u[k]
                    let isUpper = c >= 0x41 && c <= 0x5A
                    if isUpper || (c >= 0x61 && c <= 0x7A) { letter = true }
                    out[k] = isUpper ? c | 0x20 : c
                }
                n = end
            }
            return letter ? String(decoding: lowered, as: UTF8.self) : nil
        }) {
            return RuleTable.isDomainName(ascii) ? ascii : nil
        }
        var n = Substring(name.lowercased())
        while n.hasSuffix(".") { n = n.dropLast() }
        guard !n.isEmpty, RuleTable.isDomainName(String(n)), n.contains(where: \.isLetter) else { return nil }
        return String(n)
    }

    /// Whether `host` is `name` or a subdomain of it (compared without case).
    static func host(_ host: String, isIn name: String) -> Bool {
        let n = name.lowercased()
        return host == n || (host.hasSuffix(n) && host.utf8.count > n.utf8.count
                             && host.utf8[host.utf8.index(host.utf8.endIndex, offsetBy: -n.utf8.count - 1)] == UInt8(ascii: "."))
    }

    /// The value of the first line `name: value` (case-insensitive name) in `bytes`, unfolded no further.
    static func fieldValue(_ name: String, in bytes: [UInt8]) -> String? {
        let key = Array(name.utf8)
        return bytes.withUnsafeBufferPointer { b -> String? in
            guard let base = b.baseAddress else { return nil }
            var i = 0  // a line's first byte: 0, then the byte after each LF
            while i + key.count < b.count {
                var match = true
                for (k, c) in key.enumerated() where b[i + k] | 0x20 != c { match = false; break }
                if match {
                    var j = i + key.count
                    while j < b.count, b[j] == 0x20 || b[j] == 0x09 { j += 1 }
                    if j < b.count, b[j] == 0x3A {
                        var end = j + 1
                        while end < b.count, b[end] != 0x0A, b[end] != 0x0D { end += 1 }
                        return String(decoding: b[(j + 1)..<end], as: UTF8.self)
                    }
                }
                guard let lf = memchr(base + i, 0x0A, b.count - i) else { return nil }
                i = base.distance(to: lf.assumingMemoryBound(to: UInt8.self)) + 1
            }
            return nil
        }
    }

    /// The host of an RFC 3464 `mta-name-type; mta-name` value (`dns; mx.example.com`,
    /// `dns; lsean.ezweb.ne.jp. (27.85.176.228, …)`).
    private static func typedName(_ value: String) -> String? {
        let afterType = value.split(separator: ";", maxSplits: 1).last.map(String.init) ?? value
        let token = afterType.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "(" || $0 == "[" }).first.map(String.init) ?? ""
        return normalizedHost(token)
    }

    /// Postfix's `relay=host[address]:port` (`relay=none`, `relay=local` name no remote host).
    private static func postfixRelay(in bytes: [UInt8]) -> String? {
        let line = String(decoding: bytes, as: UTF8.self)
        guard let r = line.range(of: "relay=") else { return nil }
        let token = line[r.upperBound...].prefix { $0 != "[" && $0 != "," && $0 != " " && $0 != ":" }
        return normalizedHost(String(token))
    }

    /// The first host name directly followed (after optional blanks and a dot) by `[` or `(` and an
    /// IPv4 or IPv6 address, as MTAs name the host whose reply they quote.
    private static func hostBeforeAddress(in text: String) -> String? {
        let chars = Array(text.utf8.prefix(4096))
        func isLabelByte(_ b: UInt8) -> Bool {
            (b >= 0x30 && b <= 0x39) || (b | 0x20 >= 0x61 && b | 0x20 <= 0x7A) || b == 0x2D || b == 0x2E
        }
        var i = 0
        while i < chars.count {
            guard chars[i] == 0x5B || chars[i] == 0x28 else { i += 1; continue }  // [ or (
            // An address follows?
            var k = i + 1
            while k < chars.count, chars[k] == 0x20 { k += 1 }
            let addressFollows = k < chars.count && ((chars[k] >= 0x30 && chars[k] <= 0x39) || chars[k] == 0x3A
                                                     || (chars.count - k > 5 && String(decoding: chars[k..<k + 5], as: UTF8.self).lowercased() == "ipv6:"))
            if addressFollows {
                var end = i
                while end > 0, chars[end - 1] == 0x20 { end -= 1 }
                var start = end
                while start > 0, isLabelByte(chars[start - 1]) { start -= 1 }
                if start < end, let host = normalizedHost(String(decoding: chars[start..<end], as: UTF8.self)), host.contains(".") {
                    return host
                }
            }
            i += 1
        }
        return nil
    }
}
