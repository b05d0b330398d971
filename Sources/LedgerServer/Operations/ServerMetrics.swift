import DeliveryLedger
import Foundation
import Prometheus
import Synchronization

/// The service's metrics, in a Prometheus registry of its own (one per server, so that several
/// servers in one process — tests — keep apart), exposed at `/metrics` in the Prometheus text format.
///
/// Names (all prefixed `ledger_`): `events_appended_total{kind}`, `batches_total{format}`,
/// `duplicate_events_total`, `skipped_elements_total{type}` (at most 64 types, then `other`), `rejected_requests_total{reason}`,
/// `append_duration_seconds` (one group commit), `group_commit_size_batches` and `request_duration_seconds{route}` (histograms),
/// `projection_lag_records` (log records after the persisted checkpoint, folded in memory) and
/// `database_bytes` (the size of `data.mdb`), the last two read when scraped.
final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    /// The skipped-element types seen so far: their names come from the senders' payloads (a
    /// SparkPost `type`), so past ``maximumSkippedTypes`` new ones are counted under `other` — each
    /// label value is a series Prometheus keeps for good.
    private let skippedTypes = Mutex<Set<String>>([])
    static let maximumSkippedTypes = 64
    /// Histogram buckets for append and request latency: 1 ms to 10 s.
    static let latencyBuckets: [Duration] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000].map { .milliseconds($0) }

    private func descriptor(_ name: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "ledger", metricName: name, unitName: unit, helpText: help)
    }

    /// Counts one accepted batch: `events` less those at the indexes `duplicates` by kind, the
    /// duplicates, and the skipped elements.
    func batch(format: WebhookEndpoint, events: [Event] = [], duplicates: [Int] = [], skipped: [String: Int]) {
        registry.makeCounter(descriptor: descriptor("batches", "total", "Webhook requests whose events are durably appended (or were already recorded)."),
                             labels: [("format", format.rawValue)]).increment()
        // Through a buffer pointer: reading an event's kind there copies no event (an array's
        // subscript would retain every string of each).
        var byKind: [EventKind: Int64] = [:]
        events.withUnsafeBufferPointer { events in
            for i in events.indices { byKind[events[i].kind, default: 0] += 1 }
            for i in duplicates { byKind[events[i].kind, default: 0] -= 1 }
        }
        for (kind, n) in byKind where n > 0 {
            registry.makeCounter(descriptor: descriptor("events_appended", "total", "Events appended to the log, by kind."),
                                 labels: [("kind", kind.rawValue)]).increment(by: n)
        }
        registry.makeCounter(descriptor: descriptor("duplicate_events", "total", "Events received again (same id, same content): appended nothing."),
                             labels: []).increment(by: Int64(duplicates.count))
        for (type, n) in skipped {
            let label = skippedTypes.withLock { seen -> String in
                if seen.contains(type) { return type }
                guard seen.count < Self.maximumSkippedTypes else { return "other" }
                seen.insert(type)
                return type
            }
            registry.makeCounter(descriptor: descriptor("skipped_elements", "total", "Feed elements not recorded (pings, engagement), by type."),
                                 labels: [("type", label)]).increment(by: Int64(n))
        }
    }

    /// Counts one refused request.
    func rejected(reason: String) {
        registry.makeCounter(descriptor: descriptor("rejected_requests", "total", "Requests refused, by reason (unauthorized, missing_signature, bad_signature, stale_signature, body_too_large, malformed, …)."),
                             labels: [("reason", reason)]).increment()
    }

    /// Records one group commit: how long its transaction and fsync took, and how many requests'
    /// batches it held.
    func groupCommit(_ duration: Duration, batches: Int) {
        registry.makeDurationHistogram(descriptor: descriptor("append_duration", "seconds", "Durable append of one group commit (the batches of concurrent requests, one transaction and fsync)."),
                                       labels: [], buckets: Self.latencyBuckets).record(duration)
        registry.makeValueHistogram(descriptor: descriptor("group_commit_size", "batches", "Requests' batches per group commit."),
                                    labels: [], buckets: [1, 2, 4, 8, 16, 32, 64]).record(Double(batches))
    }

    /// Records how long one request took, by route template.
    func requestLatency(_ duration: Duration, route: String) {
        registry.makeDurationHistogram(descriptor: descriptor("request_duration", "seconds", "Requests, from head received to answer, by route."),
                                       labels: [("route", route)], buckets: Self.latencyBuckets).record(duration)
    }

    /// The Prometheus text exposition, after reading the gauges of the ledger's state.
    func exposition(ledger: Ledger) -> [UInt8] {
        if let attributes = try? FileManager.default.attributesOfItem(atPath: ledger.path + "/data.mdb"),
           let size = attributes[.size] as? NSNumber {
            registry.makeGauge(descriptor: descriptor("database", "bytes", "Size of the ledger's data.mdb file."), labels: []).set(size.doubleValue)
        }
        if let info = try? ledger.projectionInfo(), let basis = try? ledger.basis() {
            registry.makeGauge(descriptor: descriptor("projection_lag", "records", "Log records after the persisted projection checkpoint (folded in memory)."),
                               labels: []).set(Double(basis.position &- min(info.checkpoint, basis.position)))
        }
        return registry.emitToBuffer()
    }
}
