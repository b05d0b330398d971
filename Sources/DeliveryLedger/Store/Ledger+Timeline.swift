/// A delivery's KPIs at the end of one time bucket, under both semantics, and the throughput in it.
public struct TimelinePoint: Sendable, Hashable {
    /// The bucket's end (UTC): the KPIs are as of this instant (valid time).
    public var at: Instant
    /// KPIs as of ``at`` under the classic semantics.
    public var classic: DeliveryKPIs
    /// KPIs as of ``at`` under the EFS semantics.
    public var efs: DeliveryKPIs
    /// Relay events that occurred in the bucket.
    public var relays: Int
    /// Delivered events that occurred in the bucket.
    public var deliveries: Int
}

extension Ledger {
    /// Success over time (issue "Time in the ledger" §6): the delivery's KPIs at the start of the
    /// bucket holding its first event, then at the end of each bucket of `bucketSeconds` up to its last event, folding its events once in
    /// valid-time order (ties by position). Each point equals `kpis(delivery:semantics:at:)` with
    /// `asOf` = the bucket's end.
    /// - Throws: ``LedgerError/invalidArgument(_:)`` when `bucketSeconds` is not within 1 s…366 days
    ///   or the timeline would have more than `maximumPoints` points.
    public func timeline(delivery: String, bucketSeconds: Int64, maximumPoints: Int = 100_000) throws(LedgerError) -> [TimelinePoint] {
        guard (1...366 * 86_400).contains(bucketSeconds) else {
            throw .invalidArgument("a timeline bucket must be 1 s to 366 days, not \(bucketSeconds) s")
        }
        // One read transaction for every stream of the delivery: one snapshot of the log (appends that
        // commit meanwhile are not half in it), and no transaction per recipient.
        let (all, declarations) = try run {
            try withView { txn, view -> ([RecordedEvent], [RecordedEvent]) in
                guard let d = try view.deliveryOrdinal(Array(delivery.utf8), txn) else { return ([], []) }
                var all: [RecordedEvent] = [], declarations: [RecordedEvent] = []
                for stream in try view.streams(ofDelivery: d, txn) {
                    guard let info = try view.streamInfo(stream.ordinal, txn) else { continue }
                    let events = try chain(info, key: StreamKey(delivery: delivery, recipient: stream.recipient), txn)
                    if stream.recipient.isEmpty { declarations += events } else { all += events }
                }
                all.sort { ($0.event.occurredAt, $0.position) < ($1.event.occurredAt, $1.position) }
                declarations.sort { ($0.event.occurredAt, $0.position) < ($1.event.occurredAt, $1.position) }
                return (all, declarations)
            }
        }
        guard let first = all.first?.event.occurredAt, let last = all.last?.event.occurredAt else { return [] }
        let bucketMs = bucketSeconds * 1000
        let start = first.millisecondsSinceEpoch - (first.millisecondsSinceEpoch % bucketMs + bucketMs) % bucketMs
        let count = (last.millisecondsSinceEpoch - start) / bucketMs + 2
        guard count <= Int64(maximumPoints) else {
            throw .invalidArgument("\(count) points of \(bucketSeconds) s from \(first.rfc3339) to \(last.rfc3339): more than \(maximumPoints); use a longer bucket")
        }
        var states: [String: MessageState] = [:]
        var counters = DeliveryCounters()
        var points: [TimelinePoint] = []
        var i = 0
        var end = start  // a first point at the start of the first bucket: the curve starts from there
        while true {
            var relays = 0, delivered = 0
            while i < all.count, all[i].event.occurredAt.millisecondsSinceEpoch <= end {
                let r = all[i]
                let key = r.event.recipient
                var state = states[key] ?? {
                    counters.messages += 1
                    counters.add(MessageState().summary, sign: 1)
                    return MessageState()
                }()
                counters.add(state.summary, sign: -1)
                state.apply(asProjected(r.event), position: r.position)
                counters.add(state.summary, sign: 1)
                states[key] = state
                if r.event.kind == .relay { relays += 1 }
                if r.event.kind == .delivered { delivered += 1 }
                i += 1
            }
            let at = Instant(millisecondsSinceEpoch: end)
            var declared: Int64?
            for d in declarations where d.event.occurredAt <= at {
                if let v = d.event.toDeliver { declared = v }
            }
            points.append(TimelinePoint(
                at: at,
                classic: DeliveryKPIs(delivery: delivery, semantics: .classic, counters: counters, declaredToDeliver: declared),
                efs: DeliveryKPIs(delivery: delivery, semantics: .efs, counters: counters, declaredToDeliver: declared),
                relays: relays, deliveries: delivered))
            if end >= last.millisecondsSinceEpoch { break }
            end += bucketMs
        }
        return points
    }
}
