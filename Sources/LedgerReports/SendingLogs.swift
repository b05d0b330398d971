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
        guard try ledger.deliveries().contains(delivery) else { return nil }
        self.delivery = delivery
        self.semantics = semantics.rawValue
        self.status = status?.rawValue
        let needle = search.map { $0.lowercased() }.flatMap { $0.isEmpty ? nil : $0 }
        self.search = needle
        self.page = max(page, 1)
        self.pageSize = min(max(pageSize, 1), 1000)
        var basis = try ledger.basis()
        func report(_ recipient: String) throws -> MessageStatusReport? {
            bounds.isUnbounded ? try ledger.status(delivery: delivery, recipient: recipient, includeEvents: false)
                : try ledger.status(delivery: delivery, recipient: recipient, at: bounds)
        }
        let first = (self.page - 1) * self.pageSize
        var rows: [Row] = []
        if status == nil && needle == nil && bounds.isUnbounded {
            // Neither filter, search nor time bounds: one page of the stream index, not the whole list.
            let (page, count) = try ledger.recipients(delivery: delivery, offset: first, limit: self.pageSize)
            total = count
            for r in page {
                guard let s = try report(r) else { continue }
                rows.append(Row(recipient: r, classic: .init(s.classic), efs: .init(s.efs)))
                basis = s.basis
            }
            if !bounds.isUnbounded { basis.asOf = bounds.asOf; basis.knownAt = bounds.knownAt }
            self.basis = .init(basis)
            recipients = rows
            return
        }
        let all = try ledger.recipients(delivery: delivery)
        let searched = needle.map { n in all.filter { $0.lowercased().contains(n) } } ?? all
        if status != nil || !bounds.isUnbounded {
            // A status filter, or time bounds (a recipient with no event within them is not in the
            // logs at that moment: found by a fresh user, the total and the pages counted every
            // recipient of the delivery and showed a few rows a page), read every searched
            // recipient's status (a scan of the delivery).
            var matched = 0
            for r in searched {
                guard let s = try report(r) else { continue }
                if let status, s.view(semantics).status != status { continue }
                if matched >= first && rows.count < self.pageSize {
                    rows.append(Row(recipient: r, classic: .init(s.classic), efs: .init(s.efs)))
                    basis = s.basis
                }
                matched += 1
            }
            total = matched
        } else {
            total = searched.count
            for r in searched.dropFirst(first).prefix(self.pageSize) {
                guard let s = try report(r) else { continue }
                rows.append(Row(recipient: r, classic: .init(s.classic), efs: .init(s.efs)))
                basis = s.basis
            }
        }
        if !bounds.isUnbounded { basis.asOf = bounds.asOf; basis.knownAt = bounds.knownAt }
        self.basis = .init(basis)
        recipients = rows
    }
}
