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
        // Byte by byte (it runs for every event an append validates): three dot-separated parts,
        // ASCII digits only, no leading zero, at most 1, 3 and 3 digits.
        var parts: [Int] = []
        parts.reserveCapacity(3)
        var value = 0, digits = 0, leadingZero = false
        func close() -> Bool {
            guard digits > 0, !(leadingZero && digits > 1), digits <= (parts.isEmpty ? 1 : 3) else { return false }
            parts.append(value)
            value = 0; digits = 0; leadingZero = false
            return true
        }
        for b in text.utf8 {
            if b == UInt8(ascii: ".") {
                guard parts.count < 2, close() else { return nil }
            } else if b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") {
                if digits == 0 { leadingZero = b == UInt8(ascii: "0") }
                digits += 1
                guard digits <= 3 else { return nil }
                value = value * 10 + Int(b - UInt8(ascii: "0"))
            } else {
                return nil
            }
        }
        guard parts.count == 2, close(), parts[0] == 2 || parts[0] == 4 || parts[0] == 5 else { return nil }
        statusClass = parts[0]; subject = parts[1]; detail = parts[2]
    }

    public var description: String { "\(statusClass).\(subject).\(detail)" }
    /// Whether the class is 4: a temporary failure (never hard, domain.md §5.1).
    public var isTemporary: Bool { statusClass == 4 }
}
