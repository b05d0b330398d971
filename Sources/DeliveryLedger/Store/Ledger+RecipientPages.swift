import Algorithms
import LMDBKit

extension Ledger {
    /// One page of a delivery's recipients (those with at least one event), in byte order, and how
    /// many there are in all, in O(offset + limit) for a page within the first
    /// ``Tail/FreshRecipients/kept`` recipients: the stream index (a key range per delivery) is
    /// walked from the delivery's first key until the page is full, merged with the first of the
    /// streams the in-memory tail added since the last checkpoint (kept sorted by the tail); the total
    /// is the delivery's message counter (every recipient stream holds message events only, and each
    /// message is counted once: ``DeliveryCounters``). A deeper page sorts the tail's new streams of
    /// the delivery. The sending logs of the service page through a delivery of millions of
    /// recipients with it.
    ///
    /// - Parameters:
    ///   - delivery: the delivery id.
    ///   - offset: recipients to skip (0 for the first page).
    ///   - limit: at most this many recipients returned.
    /// - Returns: the page (`recipients(delivery:)` sliced at `offset..<offset+limit`) and the total.
    /// - Throws: ``LedgerError``.
    public func recipients(delivery: String, offset: Int, limit: Int) throws(LedgerError) -> (recipients: [String], total: Int) {
        try run {
            try withView { txn, view in
                guard let d = try view.deliveryOrdinal(Array(delivery.utf8), txn) else { return ([], 0) }
                return try recipients(d, offset: offset, limit: limit, txn, view)
            }
        }
    }

    /// ``recipients(delivery:offset:limit:)`` of delivery ordinal `d` within a read transaction.
    func recipients(_ d: UInt32, offset: Int, limit: Int, _ txn: borrowing Transaction, _ view: ProjectionReader) throws -> (recipients: [String], total: Int) {
        let total = Int(try view.counters(d, txn).messages)
        guard offset >= 0, offset < total, limit > 0 else { return ([], total) }
        let (sum, overflow) = offset.addingReportingOverflow(limit)
        let end = overflow ? Int.max : sum
        // The tail's new streams of this delivery: only the first offset + limit of them in byte
        // order can be on the page (a fresh stream after k = offset + limit others is at merged
        // place ≥ k, and so is every indexed recipient after it).
        let fresh: [ArraySlice<UInt8>]
        if let kept = view.tail.freshRecipients[d] {
            if kept.isComplete || end <= kept.first.count {
                fresh = Array(kept.first.prefix(end))
            } else {
                let candidates: [ArraySlice<UInt8>] = view.tail.newStreams.keys.compactMap { key in
                    guard key.bytes.count > 4, key.bytes.withUnsafeBytes({ Key.readU32($0) }) == d else { return nil }
                    return key.bytes[4...]
                }
                fresh = candidates.min(count: min(end, candidates.count), sortedBy: { ByteKey.precedes($0, $1) })
            }
        } else {
            fresh = []
        }
        var next = 0, index = 0
        var page: [String] = []
        page.reserveCapacity(min(limit, 1_000))
        func take(_ recipient: some Collection<UInt8>) {
            if index >= offset { page.append(String(decoding: recipient, as: UTF8.self)) }
            index += 1
        }
        try txn.scan(tables.streamIndex, from: Key.u32(d)) { k, _ in
            guard k.count >= 4, Key.readU32(k) == d else { return false }
            let recipient = UnsafeRawBufferPointer(rebasing: k[4...])
            guard !recipient.isEmpty else { return true }  // the delivery's own stream
            while page.count < limit, next < fresh.count, fresh[next].lexicographicallyPrecedes(recipient) { take(fresh[next]); next += 1 }
            if page.count < limit { take(recipient) }
            return page.count < limit
        }
        while page.count < limit, next < fresh.count { take(fresh[next]); next += 1 }
        return (page, total)
    }
}
