import DeliveryLedger

/// Which semantics a KPI report shows.
public enum SemanticsSelection: String, Sendable, CaseIterable {
    /// The Email Feedback Service semantics only.
    case efs
    /// The classic semantics only.
    case classic
    /// Both, classic first.
    case both
}

/// An unknown delivery was asked for.
public struct UnknownDelivery: Error, Sendable, CustomStringConvertible {
    /// The delivery asked for.
    public var delivery: String
    /// Up to ten known deliveries, to help.
    public var known: [String]
    /// `unknown delivery 'X'; known: …`.
    public var description: String {
        "unknown delivery '\(delivery)'" + (known.isEmpty ? "; the ledger is empty" : "; known: \(known.joined(separator: ", "))")
    }
}

/// The KPI report of `ledger project` and `GET /api/deliveries`: every delivery's (or one's) KPIs
/// under the chosen semantics, at the given time bounds, with the basis (domain.md §7).
public struct ProjectReport: Sendable {
    /// What the answer is based on.
    public var basis: Basis
    /// The deliveries asked about (all, or the one given), in byte order.
    public var deliveries: [String]
    /// Those that have KPIs at the bounds: with a known-at instant, a delivery first recorded later
    /// was unknown then, and is not listed.
    public var listed: [String] {
        let present = Set(rows.map(\.delivery))  // a set: a look-up per delivery in the rows was O(deliveries²)
        return deliveries.filter { present.contains($0) }
    }
    /// One row per delivery and semantics, in the order of `deliveries` then classic before EFS.
    public var rows: [DeliveryKPIs]
    /// The label of each listed delivery that declared one (its latest declaration at the bounds).
    public var labels: [String: String]

    /// Reads the report.
    /// - Parameters:
    ///   - ledger: the ledger.
    ///   - semantics: the semantics to show; `nil` for the EFS flag in force at the as-of instant (else
    ///     the known-at instant, else now), as known at the known-at instant; classic if never set.
    ///   - delivery: only this delivery, or all.
    ///   - bounds: as-of (valid time) and known-at (transaction time) bounds.
    /// - Throws: ``UnknownDelivery``, ``LedgerError``.
    public init(ledger: Ledger, semantics: SemanticsSelection?, delivery: String?, bounds: TimeBounds) throws {
        let chosen: [Semantics]
        switch semantics {
        case .efs: chosen = [.efs]
        case .classic: chosen = [.classic]
        case .both: chosen = [.classic, .efs]
        case nil:
            let flag = try ledger.efsEnabled(at: bounds.asOf ?? bounds.knownAt ?? Ledger.systemClock(), knownAt: bounds.knownAt)
            chosen = [flag == true ? .efs : .classic]
        }
        if let delivery {
            guard try ledger.kpis(delivery: delivery, semantics: .classic, at: TimeBounds()) != nil else {
                throw UnknownDelivery(delivery: delivery, known: Array(try ledger.deliveries().prefix(10)))
            }
        }
        // Every row and the basis from one snapshot (a delivery's classic and EFS rows from two reads
        // could describe two log positions while a writer appends: found by a tester under load).
        let (read, basis) = try ledger.kpis(deliveries: delivery.map { [$0] }, at: bounds)
        // All deliveries known now (read after the snapshot: a superset of its own), as `listed` needs.
        deliveries = try delivery.map { [$0] } ?? ledger.deliveries()
        var rows: [DeliveryKPIs] = []
        var labels: [String: String] = [:]
        for row in read {
            for s in chosen { rows.append(row.kpis(s)) }
            if let label = row.label { labels[row.delivery] = label }
        }
        self.basis = basis
        self.rows = rows
        self.labels = labels
    }

    /// The JSON document (`Schemas/project.schema.json`).
    public var document: ProjectJSON {
        ProjectJSON(basis: .init(basis), deliveries: rows.map { ProjectJSON.KPIsJSON($0, label: labels[$0.delivery]) })
    }
}
