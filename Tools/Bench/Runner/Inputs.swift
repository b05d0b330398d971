import BenchBaselines
@_spi(Benchmark) import DeliveryLedger
#if canImport(Glibc)
import Glibc
#endif

/// The ledger's stored records as the C baselines take them (``bl_events``), owning the memory.
final class BaselineInput {
    var records: [UInt8] = []
    var recordOffsets: [UInt64] = [0]
    var keys: [UInt8] = []
    var keyOffsets: [UInt64] = [0]
    var streams: [UInt32] = []
    var deliveries: [UInt32] = []
    var occurredAt: [Int64] = []
    var hashes: [UInt8] = []
    var deliveryIds: [UnsafePointer<CChar>?] = []
    var recipients: [UnsafePointer<CChar>?] = []
    var maxStream: UInt32 = 0
    /// Raw source bytes the records keep (reported apart from the storage overhead).
    var rawSourceBytes = 0
    /// Message streams (delivery, recipient) seen, for point queries.
    var messages: [(delivery: String, recipient: String)] = []
    private var interned: [String: UnsafePointer<CChar>] = [:]

    /// Reads every record of `ledger`.
    init(_ ledger: Ledger) throws {
        var seen = Set<UInt32>()
        try ledger.forEachStoredRecord { r in
            records.append(contentsOf: r.record)
            recordOffsets.append(UInt64(records.count))
            keys.append(contentsOf: r.streamKey)
            keyOffsets.append(UInt64(keys.count))
            streams.append(r.stream)
            deliveries.append(r.deliveryOrdinal)
            occurredAt.append(r.occurredAtMilliseconds)
            hashes.append(contentsOf: r.hash)
            deliveryIds.append(intern(r.delivery))
            recipients.append(intern(r.recipient))
            maxStream = max(maxStream, r.stream)
            rawSourceBytes += r.rawSourceBytes
            if !r.recipient.isEmpty, seen.insert(r.stream).inserted { messages.append((r.delivery, r.recipient)) }
            return true
        }
    }

    deinit {
        for p in interned.values { free(UnsafeMutablePointer(mutating: p)) }
    }

    private func intern(_ s: String) -> UnsafePointer<CChar> {
        if let p = interned[s] { return p }
        let p = UnsafePointer(strdup(s)!)
        interned[s] = p
        return p
    }

    var count: Int { streams.count }

    /// Calls `body` with a ``bl_events`` pointing into this input.
    func withEvents<R>(_ body: (UnsafePointer<bl_events>) throws -> R) rethrows -> R {
        try records.withUnsafeBufferPointer { rec in
            try recordOffsets.withUnsafeBufferPointer { ro in
                try keys.withUnsafeBufferPointer { k in
                    try keyOffsets.withUnsafeBufferPointer { ko in
                        try streams.withUnsafeBufferPointer { s in
                            try deliveries.withUnsafeBufferPointer { d in
                                try occurredAt.withUnsafeBufferPointer { o in
                                    try hashes.withUnsafeBufferPointer { h in
                                        try deliveryIds.withUnsafeBufferPointer { di in
                                            try recipients.withUnsafeBufferPointer { rc in
                                                var ev = bl_events(
                                                    count: count, records: rec.baseAddress, record_offsets: ro.baseAddress,
                                                    stream_keys: k.baseAddress, key_offsets: ko.baseAddress, streams: s.baseAddress,
                                                    deliveries: d.baseAddress, occurred_at: o.baseAddress, hashes: h.baseAddress,
                                                    delivery_ids: di.baseAddress, recipients: rc.baseAddress)
                                                return try body(&ev)
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Throws the baselines' last error when `rc` is nonzero.
func check(_ rc: Int32, _ what: String) throws {
    guard rc == 0 else { throw BenchError("\(what): \(String(cString: bl_last_error()))") }
}
