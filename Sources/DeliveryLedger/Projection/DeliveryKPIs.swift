/// Semantics-independent per-delivery counters, maintained incrementally by the projection:
/// each message contributes to exactly one category (see ``MessageState``), and a change of a
/// message's state moves its contribution. Persisted with the projection checkpoint.
struct DeliveryCounters: Hashable, Sendable {
    static let reasons = FailureReason.allCases
    static let types = FailureType.allCases
    // Layout: 0 messages, 1 pending, 2 inFlight (no soft failure), 3 retrying, 4 delivered,
    // 5 bounced (failed after relay), 6 failedBeforeRelay, then failed[type][reason], then
    // hardBounced (failed after relay with a hard failure; projection layout 5).
    static let fixed = 7
    /// The counter of messages failed after relay with a hard failure (the hard-bounce rate's numerator).
    static let hardBouncedIndex = fixed + types.count * reasons.count
    static let count = hardBouncedIndex + 1

    var values: [Int64]
    /// The largest count a stored counter may hold (2^48 messages: far beyond any ledger): a stored
    /// value outside 0…this is damage, named at decoding; sums of a few dozen counters then never
    /// overflow.
    static let maximum: Int64 = 1 << 48

    init() { values = Array(repeating: 0, count: DeliveryCounters.count) }

    init(bytes: UnsafeRawBufferPointer) throws(CorruptRecordError) {
        var r = ByteReader(bytes)
        var v: [Int64] = []
        v.reserveCapacity(DeliveryCounters.count)
        while !r.isAtEnd { v.append(try r.zigzag()) }
        guard v.count == DeliveryCounters.count else { throw CorruptRecordError(what: "delivery counters: \(v.count) values") }
        if let i = v.firstIndex(where: { !(0...DeliveryCounters.maximum).contains($0) }) {
            throw CorruptRecordError(what: "delivery counters: counter \(i) is \(v[i]), out of range")
        }
        values = v
    }

    var bytes: [UInt8] {
        var w = ByteWriter(capacity: values.count * 2)
        for v in values { w.zigzag(v) }
        return w.bytes
    }

    /// The counter of failed messages of qualification `q`: `fixed` + the type's place in
    /// ``types`` × the number of reasons + the reason's place in ``reasons`` (declaration order,
    /// computed by a switch: the projection calls this per message).
    @inline(__always)
    static func failedIndex(_ q: Qualification) -> Int {
        fixed + typeOrdinal(q.type) * reasonCount + reasonOrdinal(q.reason)
    }

    private static let reasonCount = FailureReason.allCases.count

    /// The place of `t` in `FailureType.allCases`.
    @inline(__always)
    static func typeOrdinal(_ t: FailureType) -> Int {
        switch t {
        case .hard: 0
        case .soft: 1
        case .ignored: 2
        case .notDefined: 3
        }
    }

    /// The place of `r` in `FailureReason.allCases`.
    @inline(__always)
    static func reasonOrdinal(_ r: FailureReason) -> Int {
        switch r {
        case .notDefined: 0
        case .userUnknown: 1
        case .invalidDomain: 2
        case .unreachable: 3
        case .accountDisabled: 4
        case .mailboxFull: 5
        case .denylistedAddress: 6
        case .addressInQuarantine: 7
        case .refused: 8
        case .errorIgnored: 9
        }
    }

    /// The counter of a message's category (1 pending … 6 failedBeforeRelay).
    @inline(__always)
    static func categoryIndex(_ c: MessageSummary.Category) -> Int {
        switch c {
        case .pending: 1
        case .inFlight: 2
        case .retrying: 3
        case .delivered: 4
        case .bounced: 5
        case .failedBeforeRelay: 6
        }
    }

    /// The failed counter a summary adds to, or `nil` when it is not a failure.
    @inline(__always)
    static func failedIndex(_ s: MessageSummary) -> Int? {
        switch s.category {
        case .bounced, .failedBeforeRelay: failedIndex(s.qualification ?? Qualification(.notDefined, .notDefined))
        case .pending, .inFlight, .retrying, .delivered: nil
        }
    }

    /// ``hardBouncedIndex`` when a summary is a hard failure after relay, else `nil`.
    @inline(__always)
    static func hardBouncedIndex(_ s: MessageSummary) -> Int? {
        s.category == .bounced && s.qualification?.type == .hard ? hardBouncedIndex : nil
    }

    /// Adds (`sign` = 1) or removes (`sign` = -1) one message's contribution.
    mutating func add(_ s: MessageSummary, sign: Int64) {
        values[DeliveryCounters.categoryIndex(s.category)] += sign
        if let f = DeliveryCounters.failedIndex(s) { values[f] += sign }
        if let h = DeliveryCounters.hardBouncedIndex(s) { values[h] += sign }
    }

    var messages: Int64 { get { values[0] } set { values[0] = newValue } }
    var pending: Int64 { values[1] }
    var inFlight: Int64 { values[2] }
    var retrying: Int64 { values[3] }
    var delivered: Int64 { values[4] }
    var bounced: Int64 { values[5] }
    var failedBeforeRelay: Int64 { values[6] }
    var hardBounced: Int64 { values[DeliveryCounters.hardBouncedIndex] }
    func failed(_ q: Qualification) -> Int64 { values[DeliveryCounters.failedIndex(q)] }
}

/// A delivery's KPIs under one semantics (domain.md §3 "Per-delivery KPIs"; Campaign's delivery
/// dashboard and Delivery summary report, reference/campaign.md §6).
///
/// Counts are numbers of **messages** (one per recipient of the delivery), never of events.
public struct DeliveryKPIs: Sendable, Hashable, Codable {
    /// The delivery id.
    public var delivery: String
    /// The semantics these KPIs were computed under.
    public var semantics: Semantics
    /// The declared to-deliver count (latest `delivery` event), or the number of distinct messages
    /// seen when none was declared or when more messages were seen than declared (the declaration is
    /// then out of date; this keeps Success % within 0…100 %).
    public var toDeliver: Int64
    /// Messages whose status is Sent under ``semantics``.
    public var success: Int64
    /// success / toDeliver, 0…1 (0 when toDeliver is 0). Campaign: Success = @success / @toDeliver.
    public var successRate: Double
    /// Messages whose status is Sent (equals ``success``; kept for the dashboard's "Sent" column).
    public var sent: Int64
    /// Messages whose status is Failed (after relay or before it).
    public var failed: Int64
    /// Messages not yet relayed: seen but without relay or outcome, plus declared recipients not
    /// seen at all (toDeliver − messages seen, when positive).
    public var pending: Int64
    /// Messages "Taken into account by the service provider" (EFS only; 0 under classic).
    public var takenIntoAccount: Int64
    /// Messages with a soft failure and no final outcome: the MTA keeps trying.
    public var retrying: Int64
    /// Relayed messages plus messages failed before relay (Campaign @processed).
    public var processed: Int64
    /// Messages that reached the MTA (a relay event, or an outcome that implies one).
    public var relayed: Int64
    /// Messages whose latest final outcome is `delivered`.
    public var delivered: Int64
    /// Messages failed after relay (final bounce or timeout), each counted once.
    public var bounced: Int64
    /// Messages failed before reaching the MTA (policy or generation failures), reported apart.
    public var failedBeforeRelay: Int64
    /// bounced / relayed, 0…1; `nil` when nothing was relayed.
    public var bounceRate: Double?
    /// Messages failed after relay with a **hard** failure (failure type hard: the address is
    /// invalid), each counted once; a part of ``bounced``.
    public var hardBounced: Int64
    /// hardBounced / relayed, 0…1; `nil` when nothing was relayed. The "hard bounce rate" that
    /// Amazon SES and listmonk report beside the bounce rate (issue #14).
    public var hardBounceRate: Double?
    /// delivered / relayed, 0…1; `nil` when nothing was relayed.
    public var deliveredRate: Double?
    /// Failed messages by failure type (every type present, zero included).
    public var failedByType: [FailureType: Int64]
    /// Failed messages by failure reason (every reason present, zero included).
    public var failedByReason: [FailureReason: Int64]

    init(delivery: String, semantics: Semantics, counters: DeliveryCounters, declaredToDeliver: Int64?) {
        // Each counter within 0…2^48 (a sum of valid-time steps a damaged ledger gives could be
        // anything; `verify` names that damage): the sums below never overflow.
        var c = counters
        for i in c.values.indices { c.values[i] = min(max(c.values[i], 0), DeliveryCounters.maximum) }
        self.delivery = delivery
        self.semantics = semantics
        let messages = c.messages
        toDeliver = max(declaredToDeliver.map { min($0, DeliveryCounters.maximum) } ?? messages, messages)
        let inFlight = c.inFlight + c.retrying
        delivered = c.delivered
        success = semantics == .classic ? inFlight + c.delivered : c.delivered
        sent = success
        takenIntoAccount = semantics == .efs ? inFlight : 0
        retrying = c.retrying
        bounced = c.bounced
        failedBeforeRelay = c.failedBeforeRelay
        failed = c.bounced + c.failedBeforeRelay
        relayed = inFlight + c.delivered + c.bounced
        processed = relayed + c.failedBeforeRelay
        pending = c.pending + max(0, toDeliver - messages)
        successRate = toDeliver > 0 ? Double(success) / Double(toDeliver) : 0
        bounceRate = relayed > 0 ? Double(bounced) / Double(relayed) : nil
        hardBounced = c.hardBounced
        hardBounceRate = relayed > 0 ? Double(c.hardBounced) / Double(relayed) : nil
        deliveredRate = relayed > 0 ? Double(delivered) / Double(relayed) : nil
        var byType: [FailureType: Int64] = [:]
        var byReason: [FailureReason: Int64] = [:]
        for t in FailureType.allCases { byType[t] = 0 }
        for r in FailureReason.allCases { byReason[r] = 0 }
        for t in FailureType.allCases {
            for r in FailureReason.allCases {
                let n = c.failed(Qualification(t, r))
                byType[t, default: 0] += n
                byReason[r, default: 0] += n
            }
        }
        failedByType = byType
        failedByReason = byReason
    }
}
