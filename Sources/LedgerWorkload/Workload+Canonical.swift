extension Workload {
    /// One `delivery` declaration per delivery, as canonical JSON Lines
    /// (`Schemas/canonical-event.schema.json`).
    ///
    /// Each line is `{"id","kind":"delivery","delivery","occurredAt","toDeliver","validitySeconds","label"}`:
    /// id `declare-<delivery id>`, `occurredAt` the delivery's start (RFC 3339, UTC, milliseconds),
    /// `toDeliver` = ``WorkloadSpec/recipientsPerDelivery``, `validitySeconds` =
    /// ``WorkloadSpec/validitySeconds``, and a human label (with quotes and non-ASCII characters).
    ///
    /// - Returns: UTF-8 bytes, one line per delivery, each ending in `\n`.
    public func deliveryDeclarationsJSONL() -> [UInt8] {
        var w = JSONWriter(capacity: deliveries.count * 256)
        for d in deliveries {
            w.raw("{\"id\":")
            w.string("declare-" + d.id)
            w.raw(",\"kind\":\"delivery\",\"delivery\":")
            w.raw(d.idJSON)
            w.raw(",\"occurredAt\":")
            w.rfc3339(milliseconds: d.startMilliseconds)
            w.raw(",\"toDeliver\":")
            w.unsigned(UInt64(spec.recipientsPerDelivery))
            w.raw(",\"validitySeconds\":")
            w.integer(spec.validitySeconds)
            w.raw(",\"label\":")
            w.string(d.label)
            w.raw("}\n")
        }
        return w.bytes
    }

    /// The same events as ``sparkPostBatches()``, as canonical JSON Lines, in the same arrival
    /// order (duplicates and late events included), for the JSONL ingest path.
    ///
    /// Open and click events are left out (the canonical format has no kind for them); the
    /// delivery declarations are not included (see ``deliveryDeclarationsJSONL()``). Mapping
    /// (domain.md §2, §5.2): `injection` → `relay`; `delivery` → `delivered`; `delay` → `retry`;
    /// in-band `bounce` → `bounce` (`final`, `inBand: true`); a `bounce` whose text is a 5.4.7
    /// expiry → `timeout`; `bounce` class 60 → `autoReply`; `out_of_band` → `bounce` (`final`,
    /// `inBand: false`); `policy_rejection` / `generation_rejection` → `bounce` (`final`,
    /// `beforeRelay: true`); `spam_complaint` → `complaint`; `list_unsubscribe` /
    /// `link_unsubscribe` → `unsubscribe`. `id` is the SparkPost `event_id`; `occurredAt` is its
    /// `timestamp` (RFC 3339, UTC); `recipient` its `rcpt_to`; failures carry `bounceClass`,
    /// `smtpCode`, `enhancedStatus`, `response` (the raw reason), `failureType` and
    /// `failureReason` (from the bounce class table, domain.md §5.2; a `generation_rejection` has
    /// no class and is qualified as SparkPost's Admin category, class 25, as the SparkPost reader
    /// does) and `attempt` (`num_retries`) where SparkPost reports it.
    ///
    /// - Returns: UTF-8 bytes, one event per line, each ending in `\n`.
    public func canonicalJSONL() -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(arrival.count * 330)
        forEachCanonicalBatch { result.append(contentsOf: $0) }
        return result
    }

    /// Renders the canonical JSON Lines one webhook batch at a time (same grouping and order as
    /// ``forEachSparkPostBatch(_:)``); a batch holding only opens and clicks gives no call.
    ///
    /// - Parameter body: called with complete lines, each ending in `\n`.
    /// - Throws: whatever `body` throws; rendering stops there.
    public func forEachCanonicalBatch(_ body: ([UInt8]) throws -> Void) rethrows {
        var renderer = Renderer(workload: self)
        var w = JSONWriter(capacity: spec.eventsPerBatch * 700)
        var begin = 0
        for end in batchEnds {
            w.reset()
            for k in begin..<end {
                renderer.writeCanonical(eventIndex: Int(arrival[k]), into: &w)
            }
            begin = end
            if !w.isEmpty { try body(w.bytes) }
        }
    }
}

extension Renderer {
    /// Writes one canonical line for a SparkPost event (nothing for opens and clicks).
    mutating func writeCanonical(eventIndex: Int, into w: inout JSONWriter) {
        let e = workload.events[eventIndex]
        let kind: CanonicalKind
        switch e.type {
        case .open, .click: return
        case .injection: kind = .relay
        case .delivery: kind = .delivered
        case .delay: kind = .retry
        case .bounce:
            switch e.reply {
            case .autoReplyEnglish, .autoReplyFrench: kind = .autoReply
            case .timeoutLastTransfail, .timeoutMaxTime: kind = .timeout
            default: kind = .bounce
            }
        case .outOfBand, .policyRejection, .generationRejection: kind = .bounce
        case .spamComplaint: kind = .complaint
        case .listUnsubscribe, .linkUnsubscribe: kind = .unsubscribe
        }
        let f = facts(message: e.message)
        w.raw("{\"id\":\"")
        w.unsigned(workload.eventIdBase + UInt64(eventIndex))
        w.raw("\",\"kind\":\"")
        w.raw(kind.token)
        w.raw("\",\"delivery\":")
        w.raw(f.delivery.idJSON)
        w.raw(",\"recipient\":\"")
        writeAddress(f, raw: false, into: &w)
        w.raw("\",\"occurredAt\":")
        writeInstant(seconds: e.time, into: &w)

        let isFailure: Bool
        switch e.type {
        case .bounce where kind == .bounce:
            w.raw(",\"final\":true,\"inBand\":true")
            isFailure = true
        case .outOfBand:
            w.raw(",\"final\":true,\"inBand\":false")
            isFailure = true
        case .policyRejection, .generationRejection:
            w.raw(",\"final\":true,\"beforeRelay\":true")
            isFailure = true
        case .bounce, .delay:
            isFailure = true  // timeout, autoReply, retry
        default:
            isFailure = false
        }
        if isFailure {
            if e.type != .generationRejection, let c = e.reply.bounceClass {
                w.raw(",\"bounceClass\":")
                w.unsigned(UInt64(c))
            }
            if let code = e.reply.smtpCode {
                w.raw(",\"smtpCode\":")
                w.unsigned(UInt64(code))
            }
            if let status = e.reply.enhancedStatus {
                w.raw(",\"enhancedStatus\":\"")
                w.raw(status)
                w.raw("\"")
            }
            w.raw(",\"response\":\"")
            e.reply.write(into: &w, masked: false, context: replyContext(f, event: e))
            w.raw("\"")
            if let q = e.reply.qualification {
                w.raw(",\"failureType\":\"")
                w.raw(q.type)
                w.raw("\",\"failureReason\":\"")
                w.raw(q.reason)
                w.raw("\"")
            }
        }
        switch e.type {
        case .delivery, .delay:
            w.raw(",\"attempt\":")
            w.unsigned(UInt64(e.retries))
        case .bounce where kind != .autoReply:
            w.raw(",\"attempt\":")
            w.unsigned(UInt64(e.retries))
        default:
            break
        }
        w.raw("}\n")
    }
}

/// Canonical event kinds the generator writes (a subset of `EventKind`'s tokens).
enum CanonicalKind {
    case relay, delivered, retry, bounce, timeout, autoReply, complaint, unsubscribe

    var token: StaticString {
        switch self {
        case .relay: "relay"
        case .delivered: "delivered"
        case .retry: "retry"
        case .bounce: "bounce"
        case .timeout: "timeout"
        case .autoReply: "autoReply"
        case .complaint: "complaint"
        case .unsubscribe: "unsubscribe"
        }
    }
}
