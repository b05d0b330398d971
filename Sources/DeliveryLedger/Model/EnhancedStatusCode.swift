/// An RFC 3463 enhanced mail system status code, `class.subject.detail`.
///
/// Grammar (RFC 3463 §2, restated in RFC 3464 §2.3.4): class is one digit, 2 (success),
/// 4 (persistent transient failure) or 5 (permanent failure); subject and detail are 1–3 digits
/// without leading zeros.
public struct EnhancedStatusCode: Sendable, Hashable, CustomStringConvertible {
    /// 2 success, 4 persistent transient failure, 5 permanent failure.
    public var statusClass: Int
    /// 0 other, 1 addressing, 2 mailbox, 3 mail system, 4 network/routing, 5 protocol, 6 content, 7 security/policy.
    public var subject: Int
    /// The detail number within the subject (RFC 3463 §3, IANA registry).
    public var detail: Int

    /// Parses `class.subject.detail`; `nil` when the text is not an RFC 3463 code.
    public init?(_ text: some StringProtocol) {
        let parts = String(text).split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
              let c = Self.number(parts[0], maxDigits: 1), c == 2 || c == 4 || c == 5,
              let s = Self.number(parts[1], maxDigits: 3), let d = Self.number(parts[2], maxDigits: 3)
        else { return nil }
        statusClass = c; subject = s; detail = d
    }

    private static func number(_ s: Substring, maxDigits: Int) -> Int? {
        guard !s.isEmpty, s.count <= maxDigits, s.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        if s.count > 1 && s.first == "0" { return nil }
        return Int(s)
    }

    public var description: String { "\(statusClass).\(subject).\(detail)" }
    /// Whether the class is 4: a temporary failure (never hard, domain.md §5.1).
    public var isTemporary: Bool { statusClass == 4 }
}
