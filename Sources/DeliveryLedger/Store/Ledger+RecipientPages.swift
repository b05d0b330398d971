import Algorithms
import LMDBKit

extension Ledger {
    /// One page of a delivery's recipients (those with at least one event), in byte order, and how
    /// many there are in all — without building the whole list: the stream index (a key range per
    /// delivery) is walked once, merged with the streams the in-memory tail added since the last
    /// checkpoint, and only the page's addresses are decoded. The sending logs of the service page
    /// through a delivery of millions of recipients with it.
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
                // The tail's new streams of this delivery: only the first offset + limit of them in byte
                // order can be on the page (a fresh stream after k = offset + limit others is at merged
                // place ≥ k, and so is every indexed recipient after it): a partial sort, O(n log k),
                // of a tail that holds up to a checkpoint's worth of new recipients; the rest are counted.
                let candidates: [ArraySlice<UInt8>] = view.tail.newStreams.keys.compactMap { key in
                    guard key.bytes.count > 4, key.bytes.withUnsafeBytes({ Key.readU32($0) }) == d else { return nil }
                    return key.bytes[4...]
                }
                let (end, overflow) = offset.addingReportingOverflow(limit)
                let fresh = candidates.min(count: overflow ? candidates.count : min(end, candidates.count),
                                           sortedBy: { $0.lexicographicallyPrecedes($1) })
                var next = 0, index = 0
                var page: [String] = []
                func take(_ recipient: some Collection<UInt8>) {
                    if index >= offset && page.count < limit { page.append(String(decoding: recipient, as: UTF8.self)) }
                    index += 1
                }
                try txn.scan(tables.streamIndex, from: Key.u32(d)) { k, _ in
                    guard k.count >= 4, Key.readU32(k) == d else { return false }
                    let recipient = UnsafeRawBufferPointer(rebasing: k[4...])
                    guard !recipient.isEmpty else { return true }  // the delivery's own stream
                    while next < fresh.count, fresh[next].lexicographicallyPrecedes(recipient) { take(fresh[next]); next += 1 }
                    take(recipient)
                    return true
                }
                while next < fresh.count { take(fresh[next]); next += 1 }
                return (page, index + candidates.count - fresh.count)
            }
        }
    }
}
