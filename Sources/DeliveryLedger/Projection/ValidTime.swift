/// The valid-time projection: how each message's contribution to its delivery's KPI counters
/// changes along valid time, kept so that a question "as of T" is answered from stored sums plus a
/// short tail instead of a fold over the delivery's events (issue "Time in the ledger" §2).
///
/// A message's contribution at valid time `T` is the summary of the fold of its events with
/// `occurredAt ≤ T` (``MessageState`` is order-independent, so this is well defined): a step
/// function of `T` that changes only at its events' `occurredAt` instants. It is stored as **steps**:
/// at instant `t`, the change of the contribution (a sparse vector of counter changes). Summing the
/// steps with `t ≤ T` gives the counters as of `T`.
///
/// The log grows in transactions; a late event can change the step function at instants in the past.
/// Each transaction that touches a message therefore writes the difference between the step
/// functions after and before it, **tagged** with the position of its last event of that message.
/// The steps with tag ≤ P are then exactly the step function of the log prefix up to P, which is
/// what a `--known-at` question selects (every known-at bound ends at a transaction's last
/// position, since a transaction's records share one `recordedAt`).
///
/// Two tables hold it (``Tables``):
/// - `validSteps`: key delivery ordinal u32 BE + biased `t` u64 BE + tag u64 BE → sparse vector;
/// - `validBuckets`: key delivery ordinal u32 BE + biased minute u64 BE → the sum of every step of
///   that minute (a periodic checkpoint of the valid-time axis): as of `T` = the buckets before
///   `T`'s minute + the steps of `T`'s own minute up to `T`.
enum ValidTime {
    /// Width of a bucket (a checkpoint of the valid-time axis), in milliseconds.
    static let bucketMilliseconds: Int64 = 60_000

    /// One event as the valid-time fold needs it.
    struct Item {
        var mark: OutcomeMark
        var isFinal: Bool
        var recordedAt: Int64

        init(_ v: RecordCodec.FoldView, position: UInt64) {
            mark = OutcomeMark(occurredAt: v.occurredAt, position: position, kind: v.kind,
                               qualification: v.qualification, beforeRelay: v.beforeRelay)
            isFinal = v.isFinal
            recordedAt = v.recordedAt.millisecondsSinceEpoch
        }

        init(mark: OutcomeMark, isFinal: Bool, recordedAt: Int64) {
            self.mark = mark
            self.isFinal = isFinal
            self.recordedAt = recordedAt
        }

        init(_ e: Event, position: UInt64, recordedAt: Instant) {
            mark = OutcomeMark(occurredAt: e.occurredAt, position: position, kind: e.kind,
                               qualification: e.qualification, beforeRelay: e.beforeRelay)
            isFinal = e.final
            self.recordedAt = recordedAt.millisecondsSinceEpoch
        }
    }

    /// A change of counters: (counter index, change) pairs, indexes ascending, no zero.
    struct Vector: Hashable, Sendable {
        var pairs: [(index: Int, value: Int64)] = []

        static func == (a: Vector, b: Vector) -> Bool {
            a.pairs.count == b.pairs.count && zip(a.pairs, b.pairs).allSatisfy { $0.index == $1.index && $0.value == $1.value }
        }
        func hash(into h: inout Hasher) {
            for p in pairs { h.combine(p.index); h.combine(p.value) }
        }

        var isZero: Bool { pairs.isEmpty }

        /// `self + sign × other`.
        mutating func add(_ other: Vector, sign: Int64 = 1) {
            var merged: [(index: Int, value: Int64)] = []
            merged.reserveCapacity(pairs.count + other.pairs.count)
            var i = 0, j = 0
            while i < pairs.count || j < other.pairs.count {
                if j == other.pairs.count || (i < pairs.count && pairs[i].index < other.pairs[j].index) {
                    merged.append(pairs[i]); i += 1
                } else if i == pairs.count || other.pairs[j].index < pairs[i].index {
                    merged.append((other.pairs[j].index, sign * other.pairs[j].value)); j += 1
                } else {
                    let v = pairs[i].value + sign * other.pairs[j].value
                    if v != 0 { merged.append((pairs[i].index, v)) }
                    i += 1; j += 1
                }
            }
            pairs = merged
        }

        /// The contribution of one message with summary `s` (nil: the message has no event yet):
        /// one message, in its category (and, failed, its type and reason).
        init(_ s: MessageSummary?) {
            guard let s else { return }
            pairs.reserveCapacity(3)
            pairs.append((0, 1))
            switch s.category {
            case .pending: pairs.append((1, 1))
            case .inFlight: pairs.append((2, 1))
            case .retrying: pairs.append((3, 1))
            case .delivered: pairs.append((4, 1))
            case .bounced, .failedBeforeRelay:
                pairs.append((s.category == .bounced ? 5 : 6, 1))
                pairs.append((DeliveryCounters.failedIndex(s.qualification ?? Qualification(.notDefined, .notDefined)), 1))
                if let h = DeliveryCounters.hardBouncedIndex(s) { pairs.append((h, 1)) }  // the highest index: stays ascending
            }
        }

        init() {}

        var bytes: [UInt8] {
            var w = ByteWriter(capacity: 1 + pairs.count * 3)
            write(to: &w)
            return w.bytes
        }

        func write(to w: inout ByteWriter) {
            w.varint(UInt64(pairs.count))
            for p in pairs { w.varint(UInt64(p.index)); w.zigzag(p.value) }
        }

        init(bytes: UnsafeRawBufferPointer) throws(CorruptRecordError) {
            var r = ByteReader(bytes)
            let n = try r.varint()
            guard n <= UInt64(DeliveryCounters.count) else { throw CorruptRecordError(what: "valid-time vector: \(n) pairs") }
            for _ in 0..<n {
                let i = try r.varint()
                guard i < UInt64(DeliveryCounters.count) else { throw CorruptRecordError(what: "valid-time vector: counter \(i)") }
                let v = try r.zigzag()
                guard (-DeliveryCounters.maximum...DeliveryCounters.maximum).contains(v) else {
                    throw CorruptRecordError(what: "valid-time vector: counter \(i) changes by \(v), out of range")
                }
                pairs.append((Int(i), v))
            }
            guard r.isAtEnd else { throw CorruptRecordError(what: "valid-time vector: trailing bytes") }
        }

        /// Adds the vector into `counters`.
        func apply(to counters: inout DeliveryCounters, sign: Int64 = 1) {
            // Wrapping: sums of damaged steps must not trap (``DeliveryKPIs`` clamps what they give).
            for p in pairs { counters.values[p.index] &+= sign &* p.value }
        }
    }

    /// The step function of a message whose events are `items`: per distinct `occurredAt` (ascending),
    /// the change of its contribution at that instant.
    static func steps(_ items: [Item]) -> [(at: Int64, change: Vector)] {
        steps(items, from: MessageState(), previous: nil)
    }

    /// The steps of `items` folded on top of `state`, whose contribution is `previous`.
    static func steps(_ items: [Item], from start: MessageState, previous start0: MessageSummary?) -> [(at: Int64, change: Vector)] {
        let sorted = items.count < 2 ? items : items.sorted { ($0.mark.occurredAt, $0.mark.position) < ($1.mark.occurredAt, $1.mark.position) }
        var result: [(at: Int64, change: Vector)] = []
        var state = start
        var previous = start0
        var i = 0
        while i < sorted.count {
            let t = sorted[i].mark.occurredAt
            while i < sorted.count, sorted[i].mark.occurredAt == t {
                state.apply(sorted[i].mark, isFinal: sorted[i].isFinal)
                i += 1
            }
            let summary = state.summary
            if summary != previous {
                var change = Vector(summary)
                change.add(Vector(previous), sign: -1)
                if !change.isZero { result.append((t.millisecondsSinceEpoch, change)) }
                previous = summary
            }
        }
        return result
    }

    /// The steps a transaction group adds: steps(before ∪ added) − steps(before), by instant
    /// ascending, zero changes dropped (a merge of the two step lists, both sorted by instant).
    static func difference(before: [Item], added: [Item]) -> [(at: Int64, change: Vector)] {
        let new = steps(before + added), old = steps(before)
        var result: [(at: Int64, change: Vector)] = []
        var i = 0, j = 0
        while i < new.count || j < old.count {
            if j == old.count || (i < new.count && new[i].at < old[j].at) {
                result.append(new[i]); i += 1
            } else if i == new.count || old[j].at < new[i].at {
                var negated = Vector()
                negated.add(old[j].change, sign: -1)
                result.append((old[j].at, negated)); j += 1
            } else {
                var change = new[i].change
                change.add(old[j].change, sign: -1)
                if !change.isZero { result.append((new[i].at, change)) }
                i += 1; j += 1
            }
        }
        return result
    }

    /// A message's events so far, folding in groups (one per transaction): each ``add(_:)`` returns
    /// the steps the group adds. When the group's events all happened after every earlier one (the
    /// common case: feedback arrives in order), the step function is unchanged up to them and goes
    /// on from the running fold; otherwise the steps are recomputed (``difference(before:added:)``).
    struct History {
        private(set) var items: [Item] = []
        private var state = MessageState()
        private var latest: Instant?

        init(_ items: [Item] = []) {
            for item in items { append(item) }
        }

        private mutating func append(_ item: Item) {
            items.append(item)
            state.apply(item.mark, isFinal: item.isFinal)
            if latest.map({ item.mark.occurredAt > $0 }) ?? true { latest = item.mark.occurredAt }
        }

        mutating func add(_ group: [Item]) -> [(at: Int64, change: Vector)] {
            let result: [(at: Int64, change: Vector)]
            if let latest, let first = group.map(\.mark.occurredAt).min(), first > latest {
                result = ValidTime.steps(group, from: state, previous: state.summary)
            } else if latest == nil {
                result = ValidTime.steps(group)
            } else {
                result = ValidTime.difference(before: items, added: group)
            }
            for item in group { append(item) }
            return result
        }
    }

    /// Order-preserving unsigned form of a signed instant or minute.
    static func biased(_ v: Int64) -> UInt64 { UInt64(bitPattern: v) ^ (1 << 63) }
    static func unbiased(_ v: UInt64) -> Int64 { Int64(bitPattern: v ^ (1 << 63)) }

    /// The bucket (minute) of an instant, floor division.
    static func bucket(_ ms: Int64) -> Int64 {
        ms >= 0 ? ms / bucketMilliseconds : -((-ms + bucketMilliseconds - 1) / bucketMilliseconds)
    }

    static func stepKey(delivery: UInt32, at: Int64, tag: UInt64) -> [UInt8] {
        var w = ByteWriter(capacity: 20)
        w.u32be(delivery); w.u64be(biased(at)); w.u64be(tag)
        return w.bytes
    }

    static func bucketKey(delivery: UInt32, bucket: Int64) -> [UInt8] {
        var w = ByteWriter(capacity: 12)
        w.u32be(delivery); w.u64be(biased(bucket))
        return w.bytes
    }
}
