extension Workload {
    /// The events as SparkPost webhook POST bodies, in arrival order.
    ///
    /// Each batch is a compact JSON array of elements `{"msys":{"<group>":{…}}}` with one group
    /// key: `message_event` (injection, delivery, delay, bounce, out_of_band, policy_rejection,
    /// spam_complaint), `gen_event` (generation_rejection), `track_event` (open, click) or
    /// `unsubscribe_event` (list_unsubscribe, link_unsubscribe), as real POSTs carry them
    /// (reference/mta.md §1.1–§1.3). Every element has a unique digit-string `event_id` (a
    /// duplicate repeats its element byte for byte), `type`, `timestamp` (epoch seconds as a
    /// string), `campaign_id` (the delivery id), `transmission_id`, `message_id`, `rcpt_to`
    /// (lower case), `raw_rcpt_to` (case as given), `routing_domain`, `sending_ip`,
    /// `friendly_from` and `subject`; failures add `bounce_class`, `error_code`, `num_retries`
    /// (strings), `reason` (masked) and `raw_reason`.
    ///
    /// - Returns: ``batchCount`` byte arrays, each a complete JSON document.
    public func sparkPostBatches() -> [[UInt8]] {
        var result: [[UInt8]] = []
        result.reserveCapacity(batchEnds.count)
        forEachSparkPostBatch { result.append($0) }
        return result
    }

    /// Renders the webhook batches one at a time, in arrival order, without keeping them all.
    ///
    /// - Parameter body: called once per batch with the batch's bytes (see ``sparkPostBatches()``).
    /// - Throws: whatever `body` throws; rendering stops there.
    public func forEachSparkPostBatch(_ body: ([UInt8]) throws -> Void) rethrows {
        var renderer = Renderer(workload: self)
        var w = JSONWriter(capacity: spec.eventsPerBatch * 1400)
        var begin = 0
        for end in batchEnds {
            w.reset()
            w.raw("[")
            for k in begin..<end {
                if k > begin { w.raw(",") }
                renderer.writeSparkPost(eventIndex: Int(arrival[k]), into: &w)
            }
            w.raw("]")
            begin = end
            try body(w.bytes)
        }
    }
}

/// Renders planned events to SparkPost and canonical bytes.
struct Renderer {
    let workload: Workload
    let recipientsPerDelivery: Int
    let seed: UInt64
    /// Every recipient's lower-case address, back to back (see ``addressRange(_:)``).
    let addressBytes: [UInt8]
    /// End offset in ``addressBytes`` of each recipient's address.
    let addressEnds: [Int]
    /// The last rendered calendar day (days since the epoch) and its `YYYY-MM-DD` bytes.
    var cachedDay: Int64 = .min
    var cachedDayBytes: [UInt8] = []

    static let sendingIPJSON: [[UInt8]] = Vocabulary.sendingIPs.map { .jsonString($0) }
    static let mxJSON: [[UInt8]] = Vocabulary.domains.map { .jsonString($0.mxAddress) }
    static let userAgentJSON: [[UInt8]] = Vocabulary.userAgents.map { .jsonString($0) }

    init(workload: Workload) {
        self.workload = workload
        self.recipientsPerDelivery = workload.spec.recipientsPerDelivery
        self.seed = workload.spec.seed
        var bytes: [UInt8] = []
        bytes.reserveCapacity(workload.recipients.count * 32)
        var ends: [Int] = []
        ends.reserveCapacity(workload.recipients.count)
        for r in workload.recipients {
            r.write(raw: false, into: &bytes)
            ends.append(bytes.count)
        }
        addressBytes = bytes
        addressEnds = ends
    }

    /// Per-message facts derived from a hash (no storage needed).
    struct MessageFacts {
        var delivery: DeliveryInfo
        var recipient: Recipient
        var recipientIndex: Int
        var sendingIP: Int
        var size: Int
        var hash: UInt64
    }

    func facts(message: Int) -> MessageFacts {
        let d = message / recipientsPerDelivery
        let i = message % recipientsPerDelivery
        let h = SplitMix64.hash(seed, 0x4D53_4748, UInt64(message))
        return MessageFacts(delivery: workload.deliveries[d], recipient: workload.recipients[i], recipientIndex: i,
                            sendingIP: Int(h % UInt64(Vocabulary.sendingIPs.count)),
                            size: 15_000 + Int((h >> 8) % 45_000), hash: h)
    }

    /// The lower-case address of a recipient (`rcpt_to`).
    func address(_ f: MessageFacts) -> ArraySlice<UInt8> {
        let i = f.recipientIndex
        return addressBytes[(i == 0 ? 0 : addressEnds[i - 1])..<addressEnds[i]]
    }

    /// Writes `rcpt_to` (lower case) or `raw_rcpt_to` (domain case as given).
    func writeAddress(_ f: MessageFacts, raw: Bool, into w: inout JSONWriter) {
        let full = address(f)
        if !raw || f.recipient.style == 0 {
            w.raw(full)
            return
        }
        let domain = Int(f.recipient.domain)
        w.raw(full.dropLast(NameBytes.domains[domain].count))
        w.raw(f.recipient.style == 1 ? NameBytes.capitalisedDomains[domain] : NameBytes.upperDomains[domain])
    }

    /// Writes a quoted RFC 3339 instant for a whole number of seconds (UTC, `.000Z`).
    mutating func writeInstant(seconds: Int64, into w: inout JSONWriter) {
        var day = seconds / 86_400
        var rem = seconds % 86_400
        if rem < 0 { rem += 86_400; day -= 1 }
        if day != cachedDay {
            var dayWriter = JSONWriter(capacity: 32)
            dayWriter.rfc3339(milliseconds: day * 86_400_000)
            cachedDayBytes = Array(dayWriter.bytes[0..<12])  // `"YYYY-MM-DDT`
            cachedDay = day
        }
        w.raw(cachedDayBytes)
        w.padded(rem / 3600, width: 2)
        w.byte(UInt8(ascii: ":"))
        w.padded((rem / 60) % 60, width: 2)
        w.byte(UInt8(ascii: ":"))
        w.padded(rem % 60, width: 2)
        w.raw(".000Z\"")
    }

    static func typeName(_ t: EventType) -> StaticString {
        switch t {
        case .injection: "injection"
        case .delivery: "delivery"
        case .delay: "delay"
        case .bounce: "bounce"
        case .outOfBand: "out_of_band"
        case .policyRejection: "policy_rejection"
        case .generationRejection: "generation_rejection"
        case .spamComplaint: "spam_complaint"
        case .listUnsubscribe: "list_unsubscribe"
        case .linkUnsubscribe: "link_unsubscribe"
        case .open: "open"
        case .click: "click"
        }
    }

    static func groupOpening(_ t: EventType) -> StaticString {
        switch t {
        case .generationRejection: "{\"msys\":{\"gen_event\":{\"type\":\""
        case .open, .click: "{\"msys\":{\"track_event\":{\"type\":\""
        case .listUnsubscribe, .linkUnsubscribe: "{\"msys\":{\"unsubscribe_event\":{\"type\":\""
        default: "{\"msys\":{\"message_event\":{\"type\":\""
        }
    }

    /// Writes a quoted 20-hex-digit SparkPost `message_id` (unique per message of a delivery).
    static func writeMessageId(_ f: MessageFacts, into w: inout JSONWriter) {
        // A bijection of the recipient index on 32 bits keeps ids unique within a delivery.
        let scrambled = UInt32(truncatingIfNeeded: f.recipientIndex) &* 0x9E37_79B1
            &+ UInt32(truncatingIfNeeded: f.delivery.transmissionId >> 7)
        w.byte(UInt8(ascii: "\""))
        w.hex(f.delivery.messageIdPrefix, digits: 4)
        w.hex(f.delivery.transmissionId & 0xFFFF_FFFF, digits: 8)
        w.hex(UInt64(scrambled), digits: 8)
        w.byte(UInt8(ascii: "\""))
    }

    func replyContext(_ f: MessageFacts, event: PlannedEvent) -> Reply.Context {
        Reply.Context(address: Array(address(f)), domain: f.recipient.domainInfo.name,
                      sendingIP: Vocabulary.sendingIPs[f.sendingIP], token: f.hash ^ event.key)
    }

    /// Writes one webhook element.
    mutating func writeSparkPost(eventIndex: Int, into w: inout JSONWriter) {
        let e = workload.events[eventIndex]
        let f = facts(message: e.message)
        w.raw(Renderer.groupOpening(e.type))
        w.raw(Renderer.typeName(e.type))
        w.raw("\",\"event_id\":\"")
        w.unsigned(workload.eventIdBase + UInt64(eventIndex))
        w.raw("\",\"timestamp\":\"")
        w.integer(e.time)
        w.raw("\",\"campaign_id\":")
        w.raw(f.delivery.idJSON)
        w.raw(",\"transmission_id\":\"")
        w.unsigned(f.delivery.transmissionId)
        w.raw("\",\"message_id\":")
        Renderer.writeMessageId(f, into: &w)
        w.raw(",\"customer_id\":\"1521\",\"template_id\":")
        w.raw(f.delivery.templateJSON)
        w.raw(",\"rcpt_to\":\"")
        writeAddress(f, raw: false, into: &w)
        w.raw("\",\"raw_rcpt_to\":\"")
        writeAddress(f, raw: true, into: &w)
        w.raw("\",\"rcpt_tags\":")
        w.raw(f.delivery.tagsJSON)
        w.raw(",\"rcpt_meta\":{\"segment\":\"")
        w.raw(f.hash & 0x300 == 0 ? "new" : "active")
        w.raw("\"},\"routing_domain\":\"")
        w.raw(NameBytes.domains[Int(f.recipient.domain)])
        w.raw("\",\"sending_ip\":")
        w.raw(Renderer.sendingIPJSON[f.sendingIP])
        w.raw(",\"friendly_from\":\"news@mail.example.com\",\"subject\":")
        w.raw(f.delivery.subjectJSON)

        switch e.type {
        case .injection:
            w.raw(",\"msg_size\":\"")
            w.unsigned(UInt64(f.size))
            w.raw("\"")
        case .delivery:
            w.raw(",\"msg_size\":\"")
            w.unsigned(UInt64(f.size))
            w.raw("\"")
            writeRetriesAndQueue(e, f, into: &w)
            writeRemote(f, into: &w)
        case .delay, .bounce:
            if e.reply == .autoReplyEnglish || e.reply == .autoReplyFrench {
                writeFailure(e, f, into: &w)
            } else {
                w.raw(",\"msg_size\":\"")
                w.unsigned(UInt64(f.size))
                w.raw("\"")
                writeFailure(e, f, into: &w)
                writeRetriesAndQueue(e, f, into: &w)
                writeRemote(f, into: &w)
            }
        case .outOfBand:
            writeFailure(e, f, into: &w)
            w.raw(",\"delv_method\":\"esmtp\"")
        case .policyRejection:
            writeFailure(e, f, into: &w)
            w.raw(",\"remote_addr\":\"10.20.4.")
            w.unsigned(10 + f.hash % 40)
            w.raw("\"")
        case .generationRejection:
            writeFailure(e, f, into: &w, includeClass: false)
        case .spamComplaint:
            w.raw(",\"fbtype\":\"abuse\",\"report_by\":\"")
            switch f.recipient.domainInfo.family {
            case .outlook: w.raw("staff.hotmail.com")
            case .yahoo: w.raw("feedback.yahoo.com")
            case .gmail, .other: w.raw("fbl.")
                w.raw(NameBytes.domains[Int(f.recipient.domain)])
            }
            w.raw("\",\"report_to\":\"fbl@sparkpostmail.com\",\"delv_method\":\"esmtp\"")
        case .listUnsubscribe:
            w.raw(",\"mailfrom\":\"")
            writeAddress(f, raw: false, into: &w)
            w.raw("\"")
        case .linkUnsubscribe:
            w.raw(",\"mailfrom\":\"")
            writeAddress(f, raw: false, into: &w)
            w.raw("\",\"user_agent\":")
            w.raw(Renderer.userAgentJSON[Int((f.hash >> 20) % UInt64(Vocabulary.userAgents.count))])
        case .open, .click:
            w.raw(",\"user_agent\":")
            w.raw(Renderer.userAgentJSON[Int((f.hash >> 20) % UInt64(Vocabulary.userAgents.count))])
            w.raw(",\"ip_address\":\"66.102.")
            w.unsigned((f.hash >> 24) % 16)
            w.raw(".")
            w.unsigned(1 + (f.hash >> 28) % 250)
            w.raw("\",\"geo_ip\":{\"country\":\"FR\",\"region\":\"IDF\",\"city\":\"Paris\",\"latitude\":48.8566,\"longitude\":2.3522}")
            if e.type == .click {
                w.raw(",\"target_link_name\":\"Voir l'offre\",\"target_link_url\":\"https://shop.example.com/offres?utm_source=newsletter&utm_campaign=")
                w.escaped(f.delivery.id)
                w.raw("\"")
            }
        }
        w.raw("}}}")
    }

    /// `,"num_retries":"…","queue_time":"…"` (queue time in milliseconds since injection).
    func writeRetriesAndQueue(_ e: PlannedEvent, _ f: MessageFacts, into w: inout JSONWriter) {
        w.raw(",\"num_retries\":\"")
        w.unsigned(UInt64(e.retries))
        let injection = f.delivery.startSeconds + Int64(f.recipientIndex) / Planner.injectionsPerSecond
        w.raw("\",\"queue_time\":\"")
        w.integer(max(0, e.time - injection) * 1000 + Int64((f.hash ^ e.key) % 1000))
        w.raw("\"")
    }

    func writeRemote(_ f: MessageFacts, into w: inout JSONWriter) {
        w.raw(",\"ip_address\":")
        w.raw(Renderer.mxJSON[Int(f.recipient.domain)])
        w.raw(",\"delv_method\":\"esmtp\"")
    }

    /// `,"bounce_class":"…","error_code":"…","reason":"…","raw_reason":"…"`.
    func writeFailure(_ e: PlannedEvent, _ f: MessageFacts, into w: inout JSONWriter, includeClass: Bool = true) {
        if includeClass, let c = e.reply.bounceClass {
            w.raw(",\"bounce_class\":\"")
            w.unsigned(UInt64(c))
            w.raw("\"")
        }
        if let code = e.reply.smtpCode {
            w.raw(",\"error_code\":\"")
            w.unsigned(UInt64(code))
            w.raw("\"")
        }
        let context = replyContext(f, event: e)
        w.raw(",\"reason\":\"")
        e.reply.write(into: &w, masked: true, context: context)
        w.raw("\",\"raw_reason\":\"")
        e.reply.write(into: &w, masked: false, context: context)
        w.raw("\"")
    }
}
