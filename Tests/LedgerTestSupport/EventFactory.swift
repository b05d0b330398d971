import DeliveryLedger

/// Terse event construction for tests. Instants are minutes after `EventFactory.t0`.
public struct EventFactory: Sendable {
    /// 2026-11-02T09:00:00Z.
    public static let t0 = Instant(year: 2026, month: 11, day: 2, hour: 9)!
    public var delivery: String
    public init(delivery: String = "d1") { self.delivery = delivery }

    public static func at(_ minutes: Int64) -> Instant { t0.adding(seconds: minutes * 60) }

    public func declare(toDeliver: Int64, validitySeconds: Int64? = nil, at minutes: Int64 = 0, id: String? = nil) -> Event {
        Event(id: id ?? "declare-\(delivery)-\(minutes)", kind: .delivery, delivery: delivery, occurredAt: Self.at(minutes),
              validitySeconds: validitySeconds, toDeliver: toDeliver)
    }

    public func relay(_ r: String, at minutes: Int64, id: String? = nil) -> Event {
        Event(id: id ?? "relay-\(r)-\(minutes)", kind: .relay, delivery: delivery, recipient: r, occurredAt: Self.at(minutes))
    }

    public func delivered(_ r: String, at minutes: Int64, id: String? = nil) -> Event {
        Event(id: id ?? "delivered-\(r)-\(minutes)", kind: .delivered, delivery: delivery, recipient: r, occurredAt: Self.at(minutes),
              smtpCode: 250)
    }

    public func hardBounce(_ r: String, at minutes: Int64, inBand: Bool = true, id: String? = nil) -> Event {
        Event(id: id ?? "hard-\(r)-\(minutes)", kind: .bounce, delivery: delivery, recipient: r, occurredAt: Self.at(minutes),
              final: true, inBand: inBand, bounceClass: 10, smtpCode: 550, enhancedStatus: "5.1.1",
              response: "550 5.1.1 <\(r)>: Recipient address rejected: User unknown", qualification: Qualification(.hard, .userUnknown))
    }

    public func softBounce(_ r: String, at minutes: Int64, reason: FailureReason = .mailboxFull, id: String? = nil) -> Event {
        Event(id: id ?? "retry-\(r)-\(minutes)", kind: .retry, delivery: delivery, recipient: r, occurredAt: Self.at(minutes),
              bounceClass: 22, smtpCode: 452, enhancedStatus: "4.2.2", response: "452 4.2.2 Mailbox full",
              qualification: Qualification(.soft, reason), attempt: 1)
    }

    public func finalSoftBounce(_ r: String, at minutes: Int64, id: String? = nil) -> Event {
        Event(id: id ?? "softfinal-\(r)-\(minutes)", kind: .bounce, delivery: delivery, recipient: r, occurredAt: Self.at(minutes),
              final: true, inBand: true, bounceClass: 22, smtpCode: 552, enhancedStatus: "5.2.2",
              response: "552 5.2.2 Mailbox full", qualification: Qualification(.soft, .mailboxFull))
    }

    public func timeout(_ r: String, at minutes: Int64, reason: FailureReason = .mailboxFull, id: String? = nil) -> Event {
        Event(id: id ?? "timeout-\(r)-\(minutes)", kind: .timeout, delivery: delivery, recipient: r, occurredAt: Self.at(minutes),
              bounceClass: 22, smtpCode: 554, enhancedStatus: "5.4.7",
              response: "554 5.4.7 [internal] message timeout (last transfail: 452 4.2.2 Mailbox full)",
              qualification: Qualification(.soft, reason))
    }

    public func policyRejection(_ r: String, at minutes: Int64, id: String? = nil) -> Event {
        Event(id: id ?? "policy-\(r)-\(minutes)", kind: .bounce, delivery: delivery, recipient: r, occurredAt: Self.at(minutes),
              final: true, beforeRelay: true, bounceClass: 25, smtpCode: 554, enhancedStatus: "5.7.1",
              response: "554 5.7.1 recipient address suppressed due to customer policy",
              qualification: Qualification(.hard, .addressInQuarantine))
    }

    public func autoReply(_ r: String, at minutes: Int64, id: String? = nil) -> Event {
        Event(id: id ?? "auto-\(r)-\(minutes)", kind: .autoReply, delivery: delivery, recipient: r, occurredAt: Self.at(minutes),
              bounceClass: 60, response: "Out of office")
    }

    public func complaint(_ r: String, at minutes: Int64, id: String? = nil) -> Event {
        Event(id: id ?? "complaint-\(r)-\(minutes)", kind: .complaint, delivery: delivery, recipient: r, occurredAt: Self.at(minutes))
    }

    public static func efs(_ enabled: Bool, at minutes: Int64, id: String? = nil) -> Event {
        Event(id: id ?? "efs-\(enabled)-\(minutes)", kind: .efsFlag, delivery: "", occurredAt: at(minutes), enabled: enabled)
    }
}
