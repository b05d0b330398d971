/// A deterministic, realistic delivery-feedback workload: delivery declarations, SparkPost webhook
/// batches and the same events as canonical JSON Lines.
///
/// Everything is derived from the ``WorkloadSpec``: the same spec gives byte-identical output on
/// every run and platform (``SplitMix64`` drives every choice; no hash seeds, no clocks, no
/// `Dictionary` iteration order).
///
/// How it is built:
/// 1. each recipient `i` gets an address `firstname.lastname+i@domain` from a realistic domain
///    mix (gmail.com 30 %, orange.fr 10 %, yahoo, outlook, hotmail, gmx.de, …); every delivery
///    targets the same list;
/// 2. each message (delivery × recipient) draws a ``Scenario`` (80 % delivered, 6 % soft then
///    delivered, 5 % hard bounce, 3 % timeout, 2 % async bounce, 2 % still retrying, 1 % not
///    relayed, 1 % policy rejection) and, when delivered, a few ``MessageSignals`` (auto-reply,
///    complaint, unsubscribe, open, click);
/// 3. the message's SparkPost events are laid out in time: injection at 100 messages per second
///    from the delivery's start (delivery `n` starts `n - 1` days after ``WorkloadSpec/start``),
///    retries on SparkPost's schedule (20, 40, 80… minutes), expiry after min(validity, 3.5 days);
/// 4. all events are sorted by time (their `event_id`s, large digit strings, increase in that
///    order, as SparkPost's do) and cut into batches of ``WorkloadSpec/eventsPerBatch``;
/// 5. the feed is made imperfect: ``WorkloadSpec/outOfOrderRate`` of the events move one to three
///    batches later, ``WorkloadSpec/duplicateRate`` of them are sent twice (the second copy, byte
///    for byte the same element, in the same batch or up to two batches later).
///
/// Cost: the plan takes about 30 bytes per event (about 2.5 events per message); the rendered
/// SparkPost batches about 700 bytes per element. Release builds plan 1 M recipients in about
/// 0.6 s and render their webhook batches in about 2 s. For very large workloads prefer ``forEachSparkPostBatch(_:)`` and
/// ``forEachCanonicalBatch(_:)``, which render one batch at a time.
public struct Workload: Sendable {
    /// The spec this workload was generated from.
    public let spec: WorkloadSpec

    let recipients: [Recipient]
    let deliveries: [DeliveryInfo]
    /// Per message (`delivery * recipientsPerDelivery + recipient`): ``Scenario`` index.
    let scenarioCodes: [UInt8]
    /// Per message: ``MessageSignals`` raw value.
    let signalCodes: [UInt8]
    /// Distinct events, in time order (index = `event_id - eventIdBase`).
    let events: [PlannedEvent]
    /// Arrival order: indexes into ``events``, duplicates repeated.
    let arrival: [UInt32]
    /// End offsets in ``arrival`` of each batch.
    let batchEnds: [Int]
    /// `event_id` of the first event.
    let eventIdBase: UInt64

    /// Generates the workload's plan (scenarios, events, batches). Rendering to bytes happens in
    /// the accessors.
    ///
    /// - Parameter spec: the parameters; counts must be ≥ 0, rates within 0…1, at least one
    ///   event per batch and a positive validity (checked with `precondition`).
    public init(spec: WorkloadSpec) {
        precondition(spec.deliveries >= 0, "deliveries must be >= 0")
        precondition((0..<(1 << 32)).contains(spec.recipientsPerDelivery), "recipientsPerDelivery must be within 0..<2^32")
        precondition(spec.deliveries.multipliedReportingOverflow(by: spec.recipientsPerDelivery).partialValue < 1 << 40,
                     "too many messages")
        precondition((0...1).contains(spec.duplicateRate), "duplicateRate must be within 0...1")
        precondition((0...1).contains(spec.outOfOrderRate), "outOfOrderRate must be within 0...1")
        precondition(spec.eventsPerBatch >= 1, "eventsPerBatch must be >= 1")
        precondition(spec.validitySeconds > 0, "validitySeconds must be > 0")
        self.spec = spec
        self.recipients = Recipient.generate(count: spec.recipientsPerDelivery, seed: spec.seed)
        self.deliveries = (0..<spec.deliveries).map { DeliveryInfo(index: $0, spec: spec) }
        var planner = Planner(spec: spec, recipients: recipients, deliveries: deliveries)
        planner.planMessages()
        planner.sortEvents()
        scenarioCodes = planner.scenarioCodes
        signalCodes = planner.signalCodes
        events = planner.events
        (arrival, batchEnds) = Planner.arrivalOrder(eventCount: events.count, spec: spec)
        eventIdBase = 100_000_000_000_000_000 + SplitMix64.hash(spec.seed, 0x4556_4944) % 800_000_000_000_000_000
    }

    /// The delivery ids, in order: `campaign-2026-11-1`, `campaign-2026-11-2`, …
    public var deliveryIds: [String] { deliveries.map(\.id) }

    /// Number of distinct SparkPost events (each `event_id` once), engagement events included.
    public var distinctEventCount: Int { events.count }

    /// Number of webhook elements over all batches (distinct events plus duplicates).
    public var elementCount: Int { arrival.count }

    /// Number of webhook batches.
    public var batchCount: Int { batchEnds.count }

    /// The generator's intent for every message, delivery by delivery, recipient by recipient
    /// (including messages with no event at all, ``Scenario/notRelayed``).
    ///
    /// - Returns: `deliveries × recipientsPerDelivery` entries.
    public func scenarios() -> [MessageScenario] {
        var result: [MessageScenario] = []
        result.reserveCapacity(scenarioCodes.count)
        let r = spec.recipientsPerDelivery
        let addresses = recipients.map { String(decoding: $0.address(raw: false), as: UTF8.self) }
        for d in 0..<deliveries.count {
            let id = deliveries[d].id
            for i in 0..<r {
                let m = d * r + i
                result.append(MessageScenario(
                    delivery: id, recipient: addresses[i],
                    scenario: Scenario.allCases[Int(scenarioCodes[m])],
                    signals: MessageSignals(rawValue: signalCodes[m])))
            }
        }
        return result
    }
}

/// A recipient of the shared list: indexes into ``Vocabulary`` and how SparkPost's `raw_rcpt_to`
/// (the address as given, before lower-casing) spells it.
struct Recipient: Sendable {
    var index: UInt32
    var first: UInt16
    var last: UInt16
    var domain: UInt8
    /// How `raw_rcpt_to` spells the domain: 0 lower case, 1 capitalised, 2 upper case.
    var style: UInt8

    static func generate(count: Int, seed: UInt64) -> [Recipient] {
        var result: [Recipient] = []
        result.reserveCapacity(count)
        for i in 0..<count {
            var rng = SplitMix64(seed: SplitMix64.hash(seed, 0x5243_5054, UInt64(i)))
            let first = rng.below(Vocabulary.firstNames.count)
            let last = rng.below(Vocabulary.lastNames.count)
            let draw = rng.below(Vocabulary.domainWeightTotal)
            let domain = Vocabulary.domainCumulative.firstIndex { draw < $0 }!
            let styleDraw = rng.below(100)
            let style: UInt8 = styleDraw < 88 ? 0 : (styleDraw < 97 ? 1 : 2)
            result.append(Recipient(index: UInt32(i), first: UInt16(first), last: UInt16(last),
                                    domain: UInt8(domain), style: style))
        }
        return result
    }

    var domainInfo: Vocabulary.Domain { Vocabulary.domains[Int(domain)] }

    /// The address bytes: lower case (SparkPost `rcpt_to`) or as given (`raw_rcpt_to`).
    func address(raw: Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(48)
        write(raw: raw, into: &out)
        return out
    }

    /// Appends the address bytes (only JSON-safe characters: letters, digits, `.`, `+`, `'`, `@`).
    ///
    /// The "as given" form differs from the lower-case one only in the case of the **domain**
    /// (`…@Gmail.com`, `…@GMAIL.COM`): the ledger keeps local parts as sent and lower-cases domains
    /// (domain.md §2), so a reader keying on `rcpt_to` and one keying on `raw_rcpt_to` find the
    /// same message.
    func write(raw: Bool, into out: inout [UInt8]) {
        out.append(contentsOf: NameBytes.first[Int(first)])
        out.append(UInt8(ascii: "."))
        out.append(contentsOf: NameBytes.last[Int(last)])
        out.append(UInt8(ascii: "+"))
        var divisor: UInt32 = 1
        while divisor <= index / 10 { divisor *= 10 }
        while divisor > 0 {
            out.append(UInt8(truncatingIfNeeded: (index / divisor) % 10) &+ 48)
            divisor /= 10
        }
        out.append(UInt8(ascii: "@"))
        let domains = !raw || style == 0 ? NameBytes.domains : (style == 1 ? NameBytes.capitalisedDomains : NameBytes.upperDomains)
        out.append(contentsOf: domains[Int(domain)])
    }
}

/// Pre-computed UTF-8 of the vocabulary, lower case and capitalised.
enum NameBytes {
    static let first: [[UInt8]] = Vocabulary.firstNames.map { Array($0.utf8) }
    static let last: [[UInt8]] = Vocabulary.lastNames.map { Array($0.utf8) }
    static let domains: [[UInt8]] = Vocabulary.domains.map { Array($0.name.utf8) }
    static let capitalisedDomains: [[UInt8]] = Vocabulary.domains.map { domain in
        var bytes = Array(domain.name.utf8)
        bytes[0] -= 0x20
        return bytes
    }
    static let upperDomains: [[UInt8]] = Vocabulary.domains.map { Array($0.name.uppercased().utf8) }
}

/// Per-delivery constants, pre-rendered (a class: rendering passes it around per event).
final class DeliveryInfo: Sendable {
    let index: Int
    let id: String
    /// The id as a quoted JSON string.
    let idJSON: [UInt8]
    let transmissionId: UInt64
    /// Quoted, escaped JSON fragments.
    let subjectJSON: [UInt8]
    let label: String
    let templateJSON: [UInt8]
    let tagsJSON: [UInt8]
    /// Declaration instant, epoch milliseconds.
    let startMilliseconds: Int64
    /// First injection, epoch seconds.
    let startSeconds: Int64
    /// High bits of this delivery's SparkPost `message_id`s.
    let messageIdPrefix: UInt64

    init(index: Int, spec: WorkloadSpec) {
        self.index = index
        id = WorkloadSpec.deliveryId(index: index)
        idJSON = .jsonString(id)
        let h = SplitMix64.hash(spec.seed, 0x4445_4C56, UInt64(index))
        transmissionId = 10_000_000_000_000_000 + h % 90_000_000_000_000_000
        let topic = Int(SplitMix64.mix(h) % UInt64(Vocabulary.subjects.count))
        subjectJSON = .jsonString(Vocabulary.subjects[topic])
        label = "\(Vocabulary.labels[topic]) (\(id))"
        templateJSON = .jsonString("template_\(transmissionId)")
        let tags: [String] = [["newsletter", "fr"], ["newsletter"], ["promo", "black-friday"], ["digest"]][Int(h >> 60) % 4]
        var w = JSONWriter()
        w.raw("[")
        for (k, tag) in tags.enumerated() {
            if k > 0 { w.raw(",") }
            w.string(tag)
        }
        w.raw("]")
        tagsJSON = w.bytes
        startMilliseconds = spec.start + Int64(index) * 86_400_000
        let startSecondsCeil = spec.start >= 0 ? (spec.start + 999) / 1000 : spec.start / 1000
        startSeconds = startSecondsCeil + Int64(index) * 86_400
        messageIdPrefix = SplitMix64.mix(h ^ 0x4D53_4749) & 0xFFFF
    }
}
