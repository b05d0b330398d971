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
        append(group: batches.map { PreparedBatch(events: $0, raws: nil, invalid: Self.firstInvalid($0)) })
    }

    /// ``append(group:)-([[Event]])`` of batches made ready by ``prepare(_:)`` (validated, raw bytes
    /// compressed, off the writer). An invalid batch fails alone without costing the others their
    /// shared transaction.
    public func append(group batches: [PreparedBatch]) -> [Result<AppendResult, LedgerError>] {
        if batches.count == 1 { return [Result { () throws(LedgerError) in try append(batches[0]) }] }
        let valid = batches.indices.filter { batches[$0].invalid == nil }
        var results: [Result<AppendResult, LedgerError>] = batches.map { batch in
            batch.invalid.map { .failure($0) } ?? .success(AppendResult(positions: [], duplicates: [], lastPosition: 0))
        }
        guard valid.count > 1 else {
            for i in valid { results[i] = Result { () throws(LedgerError) in try append(batches[i]) } }
            return results
        }
        let count = valid.reduce(0) { $0 + batches[$1].events.count }
        if count == 0 {
            let last = lastPositionOrZero()
            for i in valid { results[i] = .success(AppendResult(positions: [], duplicates: [], lastPosition: last)) }
            return results
        }
        var combined: [Event] = []
        var raws: [PrecompressedRaw?] = []
        combined.reserveCapacity(count)
        raws.reserveCapacity(count)
        for i in valid {
            combined += batches[i].events
            raws += precompressed(batches[i]) ?? Array(repeating: nil, count: batches[i].events.count)
        }
        do {
            let whole = try append(combined, precompressed: raws)
            var duplicates = whole.duplicates.sorted()[...]
            var start = 0
            for i in valid {
                let end = start + batches[i].events.count
                var own: [Int] = []
                while let first = duplicates.first, first < end { own.append(first - start); duplicates.removeFirst() }
                results[i] = .success(AppendResult(positions: Array(whole.positions[start..<end]), duplicates: own,
                                                   lastPosition: whole.lastPosition))
                start = end
            }
        } catch {
            for i in valid { results[i] = Result { () throws(LedgerError) in try append(batches[i]) } }
        }
        return results
    }

    private func lastPositionOrZero() -> UInt64 { (try? basis().position) ?? 0 }
}
