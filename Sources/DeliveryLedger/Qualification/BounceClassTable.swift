/// What a SparkPost/Momentum bounce class means for the ledger (domain.md §5.2).
public enum BounceClassEffect: Sendable, Hashable {
    /// A delivery failure with this qualification.
    case failure(Qualification)
    /// Not a failure: an auto-reply or challenge-response (classes 60, 100) → `autoReply`.
    case autoReply
    /// Not a failure: an unsubscribe request (class 90) → `unsubscribe`.
    case unsubscribe
    /// Not a failure: a subscribe request (class 80); the ledger does not track it.
    case subscribe
}

/// The MTA bounce class table (domain.md §5.2, a decision of this project built on SparkPost's
/// "Bounce Classification Codes" and Momentum's bounce logger codes; reference/mta.md §2).
public enum BounceClassTable {
    /// Version tag recorded with every qualification made from this table.
    public static let version = "bounce-class-v1"

    /// The effect of a bounce class, or `nil` for a class the table does not know.
    public static func effect(of bounceClass: Int) -> BounceClassEffect? {
        switch bounceClass {
        case 1: .failure(Qualification(.notDefined, .notDefined))
        case 10: .failure(Qualification(.hard, .userUnknown))
        case 15: .failure(Qualification(.hard, .refused))
        case 20: .failure(Qualification(.soft, .unreachable))
        case 21: .failure(Qualification(.soft, .invalidDomain))
        case 22: .failure(Qualification(.soft, .mailboxFull))
        case 23: .failure(Qualification(.ignored, .refused))
        case 24: .failure(Qualification(.soft, .unreachable))
        case 25: .failure(Qualification(.hard, .addressInQuarantine))
        case 30: .failure(Qualification(.hard, .userUnknown))
        case 40: .failure(Qualification(.soft, .unreachable))
        case 50, 51, 52, 53, 54: .failure(Qualification(.soft, .refused))
        case 60, 100: .autoReply
        case 70: .failure(Qualification(.soft, .unreachable))
        case 80: .subscribe
        case 90: .unsubscribe
        default: nil
        }
    }

    /// Whom a class's failure concerns, when not the recipient's address: the block classes —
    /// 50 Mail Block, 51 Spam Block, 54 Relaying Denied (the sending IP or domain refused: the
    /// sender), 52 Spam Content, 53 Prohibited Attachment (the message: content). domain.md §5.3:
    /// "blocked/spam/listed → Refused (the address stays valid)"; SparkPost "Bounce Classification
    /// Codes" describes them as blocks of the sender's mail. `nil` for the other classes.
    public static func concerns(of bounceClass: Int) -> FailureConcern? {
        switch bounceClass {
        case 50, 51, 54: .sender
        case 52, 53: .content
        default: nil
        }
    }

    /// Whether a response text reports the MTA giving up at the end of the validity period
    /// (domain.md §5.2: `5.4.7`, "message timeout", "exceeded max time"; Momentum's
    /// `554 5.4.7 [internal] exceeded max time without delivery`, reference/mta.md §1.5).
    ///
    /// The code is compared as a code (`X.4.7` found by ``TextQualifier/enhancedStatus(in:)``), never
    /// as a substring, so an IP address such as `192.5.4.77` is not a timeout.
    public static func isTimeoutText(_ text: String?, enhancedStatus: String?) -> Bool {
        if let e = enhancedStatus.flatMap({ EnhancedStatusCode($0) }), e.subject == 4, e.detail == 7 { return true }
        guard let text else { return false }
        if let e = TextQualifier.enhancedStatus(in: text), e.subject == 4, e.detail == 7 { return true }
        return containsIgnoringASCIICase(text, "message timeout") || containsIgnoringASCIICase(text, "exceeded max time")
            || containsIgnoringASCIICase(text, "exceeded max retries")
    }

    /// Whether `text` holds `phrase` (lower-case ASCII) in any ASCII case, compared as UTF-8 bytes.
    static func containsIgnoringASCIICase(_ text: String, _ phrase: StaticString) -> Bool {
        let p = UnsafeBufferPointer(start: phrase.utf8Start, count: phrase.utf8CodeUnitCount)
        var text = text
        return text.withUTF8 { t in
            guard t.count >= p.count else { return false }
            func lower(_ b: UInt8) -> UInt8 { b >= 0x41 && b <= 0x5A ? b | 0x20 : b }
            for i in 0...(t.count - p.count) {
                var k = 0
                while k < p.count, lower(t[i + k]) == p[k] { k += 1 }
                if k == p.count { return true }
            }
            return false
        }
    }
}
