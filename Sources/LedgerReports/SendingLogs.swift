import DeliveryLedger

/// The sending logs of a delivery (Campaign's delivery logs): every recipient with its status and
/// reason under both semantics, filtered by status and searched by address, one page at a time
/// (`GET /api/sending-logs`, the dashboard's delivery page).
public struct SendingLogsJSON: Encodable, Sendable {
    /// One recipient.
    public struct Row: Encodable, Sendable {
        /// The normalised address.
        public var recipient: String
        /// Its status under the classic semantics.
        public var classic: StatusJSON.ViewJSON
        /// Its status under the EFS semantics.
        public var efs: StatusJSON.ViewJSON
    }
    /// The delivery.
    public var delivery: String
    /// The semantics the status filter applies to (`classic` or `efs`).
    public var semantics: String
    /// The status filter (`MessageStatus` raw value), if any.
    @Null public var status: String?
    /// The address search (a case-insensitive substring), if any.
    @Null public var search: String?
    /// The page, from 1.
    public var page: Int
    /// Rows per page.
    public var pageSize: Int
    /// Recipients that match the filter and the search, on all pages (with time bounds: those with
    /// an event within them).
    public var total: Int
    /// What the answer is based on.
    public var basis: ProjectJSON.BasisJSON
    /// This page's recipients, in byte order of the address.
    public var recipients: [Row]

    /// Reads one page.
    /// - Parameters:
    ///   - semantics: the semantics `status` filters on.
    ///   - status: only recipients with this status, or all.
    ///   - search: only recipients whose address contains this text (ASCII case-insensitive), or all.
    ///   - page: from 1; `pageSize`: 1…1000 rows.
    ///   - bounds: as-of and known-at bounds (domain.md §7).
    /// - Returns: `nil` when the delivery has no events.
    /// - Throws: ``LedgerError``.
    public init?(ledger: Ledger, delivery: String, semantics: Semantics, status: MessageStatus?, search: String?,
                 page: Int, pageSize: Int, bounds: TimeBounds) throws {
        guard try ledger.hasDelivery(delivery) else { return nil }
        self.delivery = delivery
        self.semantics = semantics.rawValue
        self.status = status?.rawValue
        let needle = search.map { $0.lowercased() }.flatMap { $0.isEmpty ? nil : $0 }
        self.search = needle
        self.page = max(page, 1)
        self.pageSize = min(max(pageSize, 1), 1000)
        // The total, the rows and the basis from one snapshot (reading each recipient's status in a
        // read of its own let a page's total and its basis describe different log positions while
        // a writer appends: found by a tester under load).
        let first = (self.page - 1) * self.pageSize
        var rows: [Row] = []
        let basis: Basis
        if status == nil && needle == nil && bounds.isUnbounded {
            // Neither filter, search nor time bounds: one page of the stream index, not the whole list.
            guard let (reports, count, b) = try ledger.statusPage(delivery: delivery, offset: first, limit: self.pageSize) else { return nil }
            total = count
            rows = reports.map { Row(recipient: $0.recipient, classic: .init($0.classic), efs: .init($0.efs)) }
            basis = b
        } else if needle == nil {
            // A status filter or time bounds, no search: the total from the delivery's counters at
            // the bounds, the page from a walk in byte order that stops when it is full (not a read
            // of every recipient's status: 1.6 s → milliseconds on a 400,000-recipient delivery). A
            // recipient with no event within the bounds is not in the logs at that moment (found
            // by a fresh user: the total counted every recipient and pages showed a few rows).
            guard let (reports, count, b) = try ledger.statusPage(delivery: delivery, semantics: semantics, status: status, at: bounds,
                                                                  offset: first, limit: self.pageSize) else { return nil }
            total = count
            rows = reports.map { Row(recipient: $0.recipient, classic: .init($0.classic), efs: .init($0.efs)) }
            basis = b
        } else {
            // A search (with or without a status filter or time bounds): every recipient whose
            // address matches it is read (a scan of the delivery's index; no status read for the
            // others), and only those with the status and an event within the bounds count.
            guard let (reports, count, b) = try ledger.statusPage(delivery: delivery, semantics: semantics, status: status, at: bounds,
                                                                  search: needle,
                                                                  offset: first, limit: self.pageSize) else { return nil }
            total = count
            rows = reports.map { Row(recipient: $0.recipient, classic: .init($0.classic), efs: .init($0.efs)) }
            basis = b
        }
        self.basis = .init(basis)
        recipients = rows
    }
}
