import DeliveryLedger

/// The JSON shape of `ledger quarantine --format json` and `GET /api/quarantine`: the addresses in
/// quarantine or denylisted at an instant (domain.md §6).
public struct QuarantineJSON: Encodable, Sendable {
    /// One address.
    public struct Row: Encodable, Sendable {
        /// The normalised address.
        public var address: String
        /// `AddressQuarantineStatus` raw value.
        public var status: String
        /// The failure reason that put it there (`FailureReason` raw value), if any.
        @Null public var reason: String?
        /// Since when (RFC 3339, UTC).
        @Null public var since: String?
        /// Soft errors counted toward quarantine.
        public var errorCount: Int

        /// The row of one address report.
        public init(_ r: AddressReport) {
            address = r.address
            status = r.state.status.rawValue
            reason = r.state.reason?.rawValue
            since = r.state.since?.rfc3339
            errorCount = r.state.errorCount
        }
    }
    /// The instant the statuses are computed at (RFC 3339, UTC).
    public var asOf: String
    /// The addresses, in byte order.
    public var addresses: [Row]

    /// Reads the list at `asOf` (now when `nil`).
    /// - Throws: ``LedgerError``.
    public init(ledger: Ledger, asOf: Instant?) throws {
        self.asOf = (asOf ?? Ledger.systemClock()).rfc3339
        addresses = try ledger.quarantined(asOf: asOf).map(Row.init)
    }
}

/// The JSON shape of `GET /api/addresses/{address}`: one address's quarantine status across
/// deliveries, the events that count, and those that caused the status (domain.md §6).
public struct AddressJSON: Encodable, Sendable {
    /// The normalised address.
    public var address: String
    /// `AddressQuarantineStatus` raw value.
    public var status: String
    /// The failure reason that set the status, if any.
    @Null public var reason: String?
    /// Since when (RFC 3339, UTC).
    @Null public var since: String?
    /// Soft errors counted toward quarantine.
    public var errorCount: Int
    /// The instant the status is computed at (RFC 3339, UTC).
    public var asOf: String
    /// Log positions of the events that made the current status.
    public var causes: [UInt64]
    /// The failures that did not count toward quarantine because they concern the sender, the
    /// content or the SMTP session (the deciding rule's `concerns`), in log order.
    public var notCounted: [NotCounted]
    /// The address's events across deliveries, in log order (with `delivery`).
    public var events: [Event]

    /// A failure that did not count against the address.
    public struct NotCounted: Encodable, Sendable {
        /// Its log position.
        public var position: UInt64
        /// Whom it concerns: `sender`, `content` or `session` (``FailureConcern``).
        public var concerns: String
    }

    /// One event with its delivery.
    public struct Event: Encodable, Sendable {
        /// The delivery.
        public var delivery: String
        /// The event (as in `Schemas/status.schema.json`).
        public var event: StatusJSON.EventJSON
    }

    /// The document of one report.
    public init(_ r: AddressReport) {
        address = r.address
        status = r.state.status.rawValue
        reason = r.state.reason?.rawValue
        since = r.state.since?.rfc3339
        errorCount = r.state.errorCount
        asOf = r.at.rfc3339
        causes = r.state.causes
        notCounted = r.state.notCounted.map { NotCounted(position: $0.position, concerns: $0.concerns.rawValue) }
        events = r.events.map { Event(delivery: $0.event.delivery, event: StatusJSON.EventJSON($0)) }
    }
}

/// The JSON shape of `ledger timeline --format json` and `GET /api/deliveries/{delivery}/timeline`:
/// Success % over valid time under both semantics, one point per bucket.
public struct TimelineJSON: Encodable, Sendable {
    /// One bucket: KPIs as of its end (valid time), and the relays and deliveries that occurred in it.
    public struct Point: Encodable, Sendable {
        /// The bucket's end (RFC 3339, UTC).
        public var at: String
        /// Classic Success % (0…1).
        public var classicSuccessRate: Double
        /// EFS Success % (0…1).
        public var efsSuccessRate: Double
        /// Classic Sent.
        public var classicSent: Int64
        /// EFS Sent.
        public var efsSent: Int64
        /// EFS "Taken into account by the service provider".
        public var takenIntoAccount: Int64
        /// Failed (classic).
        public var failed: Int64
        /// Relays that occurred in the bucket.
        public var relays: Int
        /// Deliveries reported in the bucket.
        public var deliveries: Int
    }
    /// The delivery.
    public var delivery: String
    /// The bucket length as given (`1h`, `15m`, …).
    public var bucket: String
    /// The points, in time order.
    public var points: [Point]

    /// Reads the timeline.
    /// - Parameters:
    ///   - bucket: the bucket's text (echoed); `bucketSeconds` its length in seconds.
    /// - Throws: ``LedgerError``.
    public init(ledger: Ledger, delivery: String, bucket: String, bucketSeconds: Int64) throws {
        self.delivery = delivery
        self.bucket = bucket
        points = try ledger.timeline(delivery: delivery, bucketSeconds: bucketSeconds).map {
            Point(at: $0.at.rfc3339, classicSuccessRate: $0.classic.successRate, efsSuccessRate: $0.efs.successRate,
                  classicSent: $0.classic.sent, efsSent: $0.efs.sent, takenIntoAccount: $0.efs.takenIntoAccount,
                  failed: $0.classic.failed, relays: $0.relays, deliveries: $0.deliveries)
        }
    }

    /// The SVG chart of classic vs EFS Success %.
    public var svg: String {
        SVGChart.render(title: "Success % — delivery \(delivery)", points: points.map { ($0.at, $0.classicSuccessRate, $0.efsSuccessRate) })
    }

    /// `30s`, `15m`, `1h`, `1d` in seconds (at most 366 days), or `nil`.
    public static func seconds(_ text: String) -> Int64? {
        guard let unit = text.last, let n = Int64(text.dropLast()), n > 0 else { return nil }
        let factor: Int64
        switch unit {
        case "s": factor = 1
        case "m": factor = 60
        case "h": factor = 3600
        case "d": factor = 86_400
        default: return nil
        }
        let (seconds, overflow) = n.multipliedReportingOverflow(by: factor)
        return overflow || seconds > 366 * 86_400 ? nil : seconds
    }
}

/// The JSON shape of `ledger audit --format json` (`Schemas/audit.schema.json`): a delivery's
/// findings (``AuditFinding``), every one of them, with their counts by kind.
public struct AuditJSON: Encodable, Sendable {
    /// One finding.
    public struct Finding: Encodable, Sendable {
        /// ``AuditFinding/Kind`` raw value.
        public var kind: String
        /// The message's recipient; `null` for a finding about the delivery's declaration.
        @Null public var recipient: String?
        /// The log position of the event concerned (for `noFeedbackPastValidity`: the relay; for
        /// `duplicateReceived`: the recorded event the duplicate matched).
        public var position: UInt64
        /// What was found, for people (the text output's line).
        public var detail: String
    }
    /// The delivery audited.
    public var delivery: String
    /// The audit's instant (RFC 3339, UTC).
    public var now: String
    /// Seconds between occurring and being recorded that count as late.
    public var lateAfterSeconds: Int64
    /// All the delivery's findings by kind (every kind, 0 included), whatever ``kinds``.
    public var counts: [String: Int]
    /// The kinds whose findings are listed (``AuditFinding/Kind`` raw values; every kind unless
    /// the asker chose some).
    public var kinds: [String]
    /// The findings of those kinds, per message in valid-time order, then the duplicates received
    /// (as ``Ledger/audit(delivery:now:lateAfterSeconds:)`` returns them).
    public var findings: [Finding]

    /// The document of one audit: `findings` are all the delivery's; `kinds` the ones to list
    /// (empty: every kind).
    public init(delivery: String, now: Instant, lateAfterSeconds: Int64, findings: [AuditFinding], kinds: Set<AuditFinding.Kind> = []) {
        self.delivery = delivery
        self.now = now.rfc3339
        self.lateAfterSeconds = lateAfterSeconds
        var counts: [String: Int] = [:]
        for kind in AuditFinding.Kind.allCases { counts[kind.rawValue] = 0 }
        for f in findings { counts[f.kind.rawValue, default: 0] += 1 }
        self.counts = counts
        self.kinds = AuditFinding.Kind.allCases.filter { kinds.isEmpty || kinds.contains($0) }.map(\.rawValue)
        self.findings = findings.filter { kinds.isEmpty || kinds.contains($0.kind) }.map { Finding(kind: $0.kind.rawValue, recipient: $0.recipient.isEmpty ? nil : $0.recipient, position: $0.position, detail: $0.detail) }
    }
}

/// The JSON shape of `ledger domains --format json` (`Schemas/domains.schema.json`): a delivery's
/// breakdown by recipient domain (domain.md §3; ``Ledger/domainBreakdown(delivery:semantics:now:)``).
public struct DomainsJSON: Encodable, Sendable {
    /// One recipient domain.
    public struct Row: Encodable, Sendable {
        public var domain: String
        /// The domain's messages' KPIs (the project document's shape; `toDeliver` = the messages seen).
        public var kpis: ProjectJSON.KPIsJSON
        /// Hard failures by reason (every reason, 0 included).
        public var hardByReason: [String: Int64]
        /// Soft failures by reason (every reason, 0 included).
        public var softByReason: [String: Int64]
        /// Relayed messages past their validity at `now` with no outcome at all.
        public var noFeedback: Int64
    }
    public var delivery: String
    /// The instant past-validity is judged at (RFC 3339, UTC).
    public var now: String
    /// The effective validity of the delivery's messages, in seconds.
    public var validitySeconds: Int64
    /// The log position the breakdown covers.
    public var position: UInt64
    /// The delivery's "no feedback" count (the sum of the rows').
    public var noFeedback: Int64
    /// The domains, the most processed first.
    public var domains: [Row]
    /// The sum of the domains: the delivery's counts (domain `""`).
    public var total: Row

    public init(_ b: DomainBreakdown) {
        delivery = b.delivery
        now = b.now.rfc3339
        validitySeconds = b.validitySeconds
        position = b.basis.position
        noFeedback = b.noFeedback
        func all(_ counts: [FailureReason: Int64]) -> [String: Int64] {
            Dictionary(uniqueKeysWithValues: FailureReason.allCases.map { ($0.rawValue, counts[$0] ?? 0) })
        }
        func row(_ r: DomainBreakdownRow) -> Row {
            Row(domain: r.domain, kpis: ProjectJSON.KPIsJSON(r.kpis), hardByReason: all(r.hardByReason), softByReason: all(r.softByReason), noFeedback: r.noFeedback)
        }
        domains = b.domains.map(row)
        total = row(b.total)
    }
}
