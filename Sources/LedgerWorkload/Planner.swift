/// The SparkPost event types the generator emits (reference/mta.md §1.2).
enum EventType: UInt8, Sendable {
    case injection, delivery, delay, bounce, outOfBand, policyRejection, generationRejection
    case spamComplaint, listUnsubscribe, linkUnsubscribe, open, click
}

/// One planned SparkPost event: what, when, for which message. Rendered to bytes on demand.
struct PlannedEvent: Sendable {
    /// Valid time, epoch seconds (SparkPost's `timestamp`).
    var time: Int64
    /// `message << 8 | sequence within the message`: the tie-breaker of the time order.
    var key: UInt64
    var type: EventType
    var reply: Reply
    /// SparkPost `num_retries`: failed attempts before this event.
    var retries: UInt8

    var message: Int { Int(key >> 8) }
}

/// Lays out every message's events (domain.md §2–§4; SparkPost behaviour from reference/mta.md §1.5).
struct Planner {
    /// Messages injected per second from a delivery's start.
    static let injectionsPerSecond: Int64 = 100
    /// SparkPost's first retry interval (20 minutes), doubling after each attempt.
    static let firstRetryInterval: Int64 = 1200
    /// The Enhanced MTA's maximum message lifetime, 3.5 days (domain.md §4).
    static let maximumLifetime: Int64 = 302_400

    let spec: WorkloadSpec
    let recipients: [Recipient]
    let deliveries: [DeliveryInfo]
    var scenarioCodes: [UInt8] = []
    var signalCodes: [UInt8] = []
    var events: [PlannedEvent] = []

    init(spec: WorkloadSpec, recipients: [Recipient], deliveries: [DeliveryInfo]) {
        self.spec = spec
        self.recipients = recipients
        self.deliveries = deliveries
    }

    /// The cumulative per-mille thresholds of ``Scenario/allCases``.
    static let scenarioThresholds: [Int] = {
        var total = 0
        return Scenario.allCases.map { total += $0.nominalPerMille; return total }
    }()

    mutating func planMessages() {
        let r = spec.recipientsPerDelivery
        let count = deliveries.count * r
        scenarioCodes = [UInt8](repeating: 0, count: count)
        signalCodes = [UInt8](repeating: 0, count: count)
        events.reserveCapacity(count * 27 / 10 + 16)
        let lifetime = min(spec.validitySeconds, Planner.maximumLifetime)
        for d in 0..<deliveries.count {
            let start = deliveries[d].startSeconds
            for i in 0..<r {
                let message = d * r + i
                var rng = SplitMix64(seed: SplitMix64.hash(spec.seed, 0x4D45_5353, UInt64(message)))
                let draw = rng.below(1000)
                let s = Planner.scenarioThresholds.firstIndex { draw < $0 }!
                scenarioCodes[message] = UInt8(s)
                var emitter = Emitter(message: UInt64(message))
                let injection = start + Int64(i) / Planner.injectionsPerSecond
                plan(Scenario.allCases[s], injection: injection, lifetime: lifetime,
                     recipient: recipients[i], rng: &rng, emitter: &emitter)
                signalCodes[message] = emitter.signals.rawValue
                events.append(contentsOf: emitter.events)
            }
        }
    }

    /// Collects one message's events, numbering them in emission order.
    struct Emitter {
        var message: UInt64
        var events: [PlannedEvent] = []
        var signals: MessageSignals = []

        init(message: UInt64) {
            self.message = message
            events.reserveCapacity(4)
        }

        mutating func emit(_ type: EventType, at time: Int64, reply: Reply = .none, retries: Int = 0) {
            events.append(PlannedEvent(time: time, key: message << 8 | UInt64(min(events.count, 255)),
                                       type: type, reply: reply, retries: UInt8(min(retries, 255))))
        }
    }

    /// Seconds from injection to delivery: seconds for most, minutes for some.
    static func deliveryLatency(_ rng: inout SplitMix64) -> Int64 {
        rng.chance(0.9) ? Int64(rng.between(1...30)) : Int64(rng.between(31...600))
    }

    /// Time of attempt `k` (0-based) on SparkPost's schedule: the first attempt seconds after
    /// injection, then retries after 20, 40, 80, 160… minutes (reference/mta.md §1.5).
    static func attemptTime(_ k: Int, injection: Int64, firstAttempt: Int64) -> Int64 {
        injection + firstAttempt + firstRetryInterval * ((Int64(1) << Int64(min(k, 40))) - 1)
    }

    /// A temporary failure text for this recipient's domain (Yahoo defers with TSS04).
    static func softReply(_ rng: inout SplitMix64, recipient: Recipient) -> Reply {
        if recipient.domainInfo.family == .yahoo && rng.chance(0.6) { return .yahooDeferral }
        let draw = rng.below(80)
        switch draw {
        case ..<35: return .greylisting
        case ..<55: return .overQuota
        case ..<65: return .noMX
        default: return .connectionTimedOut
        }
    }

    /// The receiving server's "no such user" text for this recipient's domain.
    static func hardReply(recipient: Recipient) -> Reply {
        switch recipient.domainInfo.family {
        case .gmail: .gmailNoSuchUser
        case .outlook: .outlookUnavailable
        case .yahoo: .yahooNoAccount
        case .other: .postfixUserUnknown
        }
    }

    func plan(_ scenario: Scenario, injection: Int64, lifetime: Int64, recipient: Recipient,
              rng: inout SplitMix64, emitter e: inout Emitter) {
        let firstAttempt = Int64(rng.between(1...20))
        switch scenario {
        case .delivered:
            e.emit(.injection, at: injection)
            let delivered = injection + Planner.deliveryLatency(&rng)
            e.emit(.delivery, at: delivered)
            signals(afterDeliveryAt: delivered, recipient: recipient, rng: &rng, emitter: &e)
        case .softThenDelivered:
            e.emit(.injection, at: injection)
            let reply = Planner.softReply(&rng, recipient: recipient)
            let delays = rng.between(1...3)
            for k in 0..<delays {
                e.emit(.delay, at: Planner.attemptTime(k, injection: injection, firstAttempt: firstAttempt),
                       reply: reply, retries: k)
            }
            let delivered = Planner.attemptTime(delays, injection: injection, firstAttempt: firstAttempt)
                + Int64(rng.between(0...5))
            e.emit(.delivery, at: delivered, retries: delays)
            signals(afterDeliveryAt: delivered, recipient: recipient, rng: &rng, emitter: &e)
        case .hardBounce:
            e.emit(.injection, at: injection)
            let reply: Reply = rng.chance(0.1) ? .spamhausBlock : Planner.hardReply(recipient: recipient)
            e.emit(.bounce, at: injection + Int64(rng.between(1...30)), reply: reply)
        case .timeout:
            e.emit(.injection, at: injection)
            let quota = rng.chance(0.5)
            let delayReply: Reply = quota ? .overQuota : .connectionTimedOut
            var k = 0
            while k == 0 || Planner.attemptTime(k, injection: injection, firstAttempt: firstAttempt) < injection + lifetime {
                e.emit(.delay, at: Planner.attemptTime(k, injection: injection, firstAttempt: firstAttempt),
                       reply: delayReply, retries: k)
                k += 1
            }
            let expiry = max(injection + lifetime, Planner.attemptTime(k - 1, injection: injection, firstAttempt: firstAttempt))
            e.emit(.bounce, at: expiry + Int64(rng.between(0...900)),
                   reply: quota ? .timeoutLastTransfail : .timeoutMaxTime, retries: k)
        case .asyncBounceAfterDelivery:
            e.emit(.injection, at: injection)
            let delivered = injection + Planner.deliveryLatency(&rng)
            e.emit(.delivery, at: delivered)
            e.emit(.outOfBand, at: delivered + Int64(rng.between(3600...172_800)),
                   reply: rng.chance(0.7) ? .oobUserUnknown : .oobMailboxFull)
        case .stillRetrying:
            e.emit(.injection, at: injection)
            let reply = Planner.softReply(&rng, recipient: recipient)
            for k in 0..<rng.between(1...4) {
                e.emit(.delay, at: Planner.attemptTime(k, injection: injection, firstAttempt: firstAttempt),
                       reply: reply, retries: k)
            }
        case .notRelayed:
            break
        case .policyRejection:
            e.emit(rng.chance(1.0 / 6.0) ? .generationRejection : .policyRejection, at: injection,
                   reply: .suppressedByPolicy)
        }
    }

    /// Status-neutral follow-ups of a delivered message (domain.md §2: they never change status).
    func signals(afterDeliveryAt delivered: Int64, recipient: Recipient, rng: inout SplitMix64,
                 emitter e: inout Emitter) {
        if rng.chance(0.015) {
            e.signals.insert(.autoReply)
            let french = recipient.domainInfo.name.hasSuffix(".fr")
            e.emit(.bounce, at: delivered + Int64(rng.between(30...7200)),
                   reply: french ? .autoReplyFrench : .autoReplyEnglish)
        }
        if rng.chance(0.06) {
            e.signals.insert(.open)
            let opened = delivered + Int64(rng.between(60...86_400))
            e.emit(.open, at: opened)
            if rng.chance(0.25) {
                e.signals.insert(.click)
                e.emit(.click, at: opened + Int64(rng.between(5...600)))
            }
        }
        if rng.chance(0.003) {
            e.signals.insert(.unsubscribe)
            e.emit(rng.chance(0.6) ? .listUnsubscribe : .linkUnsubscribe,
                   at: delivered + Int64(rng.between(300...172_800)))
        }
        if rng.chance(0.002) {
            e.signals.insert(.complaint)
            e.emit(.spamComplaint, at: delivered + Int64(rng.between(600...259_200)))
        }
    }

    /// Sorts the events by time, ties by message then sequence: the order of their `event_id`s.
    mutating func sortEvents() {
        events.sort { a, b in a.time != b.time ? a.time < b.time : a.key < b.key }
    }

    /// Cuts the time-ordered events into batches, moving some later and repeating some.
    ///
    /// Event `k` naturally belongs to batch `k / eventsPerBatch`. With probability
    /// `outOfOrderRate` it goes 1–3 batches later instead; with probability `duplicateRate` a
    /// second copy goes into its batch (right after it) or one or two batches later.
    ///
    /// - Returns: the arrival order (event indexes) and the end offset of each non-empty batch.
    static func arrivalOrder(eventCount: Int, spec: WorkloadSpec) -> ([UInt32], [Int]) {
        precondition(eventCount < Int(UInt32.max), "too many events")
        let perBatch = spec.eventsPerBatch
        let natural = (eventCount + perBatch - 1) / perBatch
        var buckets = [[UInt32]](repeating: [], count: natural + 6)
        var rng = SplitMix64(seed: SplitMix64.hash(spec.seed, 0x4152_5256))
        for k in 0..<eventCount {
            var target = k / perBatch
            if rng.chance(spec.outOfOrderRate) { target += 1 + rng.below(3) }
            buckets[target].append(UInt32(k))
            if rng.chance(spec.duplicateRate) { buckets[target + rng.below(3)].append(UInt32(k)) }
        }
        var arrival: [UInt32] = []
        arrival.reserveCapacity(eventCount + eventCount / 8)
        var ends: [Int] = []
        for bucket in buckets where !bucket.isEmpty {
            arrival.append(contentsOf: bucket)
            ends.append(arrival.count)
        }
        return (arrival, ends)
    }
}
