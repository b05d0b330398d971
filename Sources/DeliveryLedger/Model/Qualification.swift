/// What an error means for the **address**: Campaign's failure types (domain.md §1, §5.1;
/// Campaign Classic "Delivery failure types and reasons").
///
/// Raw values are the stable tokens of the public JSON formats (`Schemas/`).
public enum FailureType: String, Sendable, Hashable, Codable, CaseIterable {
    /// The address is invalid (e.g. user unknown): quarantined at once.
    case hard
    /// Temporary or unclassified (e.g. mailbox full): counted towards quarantine, retried.
    case soft
    /// Known to be harmless for the address (e.g. out-of-office, message too large).
    case ignored
    /// Not yet qualified (Campaign reason 0 "Not defined").
    case notDefined

    /// Campaign's label, as shown in the delivery logs.
    public var label: String {
        switch self {
        case .hard: "Hard"
        case .soft: "Soft"
        case .ignored: "Ignored"
        case .notDefined: "Not defined"
        }
    }
}

/// Why a message failed: Campaign's email failure reasons (domain.md §5.1; Campaign Classic
/// "Email error types", technical value = ``code``).
///
/// Raw values are the stable tokens of the public JSON formats (`Schemas/`).
public enum FailureReason: String, Sendable, Hashable, Codable, CaseIterable {
    case notDefined
    case userUnknown
    case invalidDomain
    case unreachable
    case accountDisabled
    case mailboxFull
    case denylistedAddress
    case addressInQuarantine
    case refused
    case errorIgnored

    /// Campaign's technical value (`failureReason`).
    public var code: Int {
        switch self {
        case .notDefined: 0
        case .userUnknown: 1
        case .invalidDomain: 2
        case .unreachable: 3
        case .accountDisabled: 4
        case .mailboxFull: 5
        case .denylistedAddress: 8
        case .addressInQuarantine: 9
        case .refused: 20
        case .errorIgnored: 25
        }
    }

    /// The reason with a Campaign technical value, or `nil` if the ledger does not know it.
    public init?(code: Int) {
        // A switch, not a search of `allCases` (which builds an array): decoding calls this per record.
        switch code {
        case 0: self = .notDefined
        case 1: self = .userUnknown
        case 2: self = .invalidDomain
        case 3: self = .unreachable
        case 4: self = .accountDisabled
        case 5: self = .mailboxFull
        case 8: self = .denylistedAddress
        case 9: self = .addressInQuarantine
        case 20: self = .refused
        case 25: self = .errorIgnored
        default: return nil
        }
    }

    /// Campaign's label, as shown in the delivery logs.
    public var label: String {
        switch self {
        case .notDefined: "Not defined"
        case .userUnknown: "User unknown"
        case .invalidDomain: "Invalid domain"
        case .unreachable: "Unreachable"
        case .accountDisabled: "Account disabled"
        case .mailboxFull: "Mailbox full"
        case .denylistedAddress: "Denylisted address"
        case .addressInQuarantine: "Address in quarantine"
        case .refused: "Refused"
        case .errorIgnored: "Error ignored"
        }
    }
}

/// Whom a failure concerns: the recipient's address, or the sender, the message's content or the
/// SMTP session (issue #14; RFC 3463 §3.2 "X.1.7/X.1.8 sender address", §3.7 "X.6.x message
/// content", §3.8 "X.7.x security or policy"; RFC 5321 §4.2.3 session replies).
///
/// Only a failure that concerns the recipient counts toward the address's quarantine (domain.md §6);
/// every failure still counts in the delivery's KPIs with its reason. Raw values are the tokens of
/// `Schemas/rules.schema.json` (`concerns`).
public enum FailureConcern: String, Sendable, Hashable, Codable, CaseIterable {
    /// The recipient's address or mailbox (user unknown, mailbox full, disabled, its domain).
    case recipient
    /// The sender: its address, sending domain, sending IP, authentication, reputation or rate.
    case sender
    /// The message's content (spam, virus, size, a content filter after DATA).
    case content
    /// The SMTP session itself (HELO name, protocol errors, connection limits).
    case session

    /// A label for people.
    public var label: String {
        switch self {
        case .recipient: "the recipient"
        case .sender: "the sender"
        case .content: "the message's content"
        case .session: "the SMTP session"
        }
    }
}

/// A failure type and reason, the result of qualification (domain.md §5).
public struct Qualification: Sendable, Hashable, Codable {
    /// What the failure means for the address.
    public var type: FailureType
    /// Why the message failed.
    public var reason: FailureReason

    /// Creates a qualification.
    public init(_ type: FailureType, _ reason: FailureReason) {
        self.type = type
        self.reason = reason
    }

    /// The qualification with its type capped at soft: a temporary failure (4xx, class-4 enhanced
    /// status, a `retry`) is never hard (domain.md §5.1).
    public var temporary: Qualification {
        type == .hard ? Qualification(.soft, reason) : self
    }

    /// The qualification of a `timeout`: always soft (the MTA gave up because the validity period
    /// ran out, domain.md §1, §4), and a reason left undefined is Unreachable (RFC 3463 X.4.7
    /// "delivery time expired").
    public var forTimeout: Qualification {
        Qualification(type == .hard || type == .notDefined ? .soft : type, reason == .notDefined ? .unreachable : reason)
    }
}
