extension Ledger {
    /// Appends several independent batches in one write transaction — one commit, one fsync — as if
    /// each had been appended by ``append(_:)`` in the order given (group commit, as databases do for
    /// concurrent committers: PostgreSQL's `commit_delay`, InnoDB's binary-log group commit).
    ///
    /// Each batch stays atomic on its own: a batch whose event is invalid or conflicts with the ledger
    /// (or with an earlier batch of the group) fails alone with the error ``append(_:)`` would throw,
    /// and the other batches are appended. An event already recorded — also by an earlier batch of
    /// the same group — is a duplicate of that batch, exactly as with one append after the other.
    ///
    /// The common case costs one transaction; when any batch fails, the group is rolled back and each
    /// batch is appended in a transaction of its own, so that a failure never takes another batch
    /// with it (rare: a sender's invalid or conflicting batch, a full disk).
    ///
    /// - Parameter batches: the batches, in the order their senders' requests are served.
    /// - Returns: per batch, in input order, its ``AppendResult`` (positions and duplicates indexed in
    ///   that batch; ``AppendResult/lastPosition`` is the log's last position after the group) or the
    ///   ``LedgerError`` that refused it (nothing of that batch appended).
    public func append(group batches: [[Event]]) -> [Result<AppendResult, LedgerError>] {
        if batches.count == 1 { return [Result { () throws(LedgerError) in try append(batches[0]) }] }
        let combined = batches.flatMap { $0 }
        if combined.isEmpty { return batches.map { _ in .success(AppendResult(positions: [], duplicates: [], lastPosition: lastPositionOrZero())) } }
        do {
            let whole = try append(combined)
            var results: [Result<AppendResult, LedgerError>] = []
            results.reserveCapacity(batches.count)
            var duplicates = whole.duplicates.sorted()[...]
            var start = 0
            for batch in batches {
                let end = start + batch.count
                var own: [Int] = []
                while let first = duplicates.first, first < end { own.append(first - start); duplicates.removeFirst() }
                results.append(.success(AppendResult(positions: Array(whole.positions[start..<end]), duplicates: own,
                                                     lastPosition: whole.lastPosition)))
                start = end
            }
            return results
        } catch {
            return batches.map { batch in Result { () throws(LedgerError) in try append(batch) } }
        }
    }

    private func lastPositionOrZero() -> UInt64 { (try? basis().position) ?? 0 }
}
