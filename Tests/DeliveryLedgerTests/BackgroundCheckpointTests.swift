import DeliveryLedger
import Foundation
import LedgerTestSupport
import Synchronization
import Testing

/// Checkpoints on a thread of their own (``LedgerOptions/checkpointsInBackground``, `ledger serve`):
/// every answer during and after them is the one a ledger with checkpoints in the append gives for
/// the same events (the reference: the long-tested synchronous path), the checkpoints do land, and
/// `verify` finds the projection whole.
@Suite struct BackgroundCheckpointTests {
    /// 61 batches over two deliveries: the declarations, then 40 relays of new recipients a batch
    /// and, from the third, outcomes of recipients relayed two batches before (delivered, soft
    /// bounce, delivered, hard bounce, in turn).
    static func batches() -> [[Event]] {
        let factories = [EventFactory(delivery: "d1"), EventFactory(delivery: "d2")]
        var batches: [[Event]] = [factories.map { $0.declare(toDeliver: 1_200) }]
        for k in 0..<60 {
            var batch: [Event] = []
            for i in 0..<40 {
                let n = k * 40 + i
                batch.append(factories[n % 2].relay("r\(n)@example.com", at: Int64(k)))
            }
            if k >= 2 {
                for i in 0..<20 {
                    let n = (k - 2) * 40 + i, r = "r\(n)@example.com", f = factories[n % 2], at = Int64(k)
                    switch i % 4 {
                    case 0, 2: batch.append(f.delivered(r, at: at))
                    case 1: batch.append(f.softBounce(r, at: at))
                    default: batch.append(f.hardBounce(r, at: at))
                    }
                }
            }
            batches.append(batch)
        }
        return batches
    }

    static func options(background: Bool) -> LedgerOptions {
        var options = LedgerOptions()
        options.checkpointRecords = 150  // a checkpoint every two or three batches
        options.checkpointSeconds = .infinity
        options.checkpointsInBackground = background
        return options
    }

    @Test func answersMatchCheckpointsInTheAppend() throws {
        let background = try TestLedger(options: Self.options(background: true))
        let reference = try TestLedger(options: Self.options(background: false))
        // Readers in other threads all along: they must never fail, whatever the checkpoint is doing.
        final class Shared: Sendable {
            let stop = Atomic(false)
            let failures = Mutex<[String]>([])
        }
        let shared = Shared()
        let readers = (0..<2).map { n in
            Thread {
                while !shared.stop.load(ordering: .relaxed) {
                    do {
                        _ = try background.ledger.kpis(delivery: "d\(n + 1)", semantics: .efs)
                        _ = try background.ledger.status(delivery: "d\(n + 1)", recipient: "r\(n)@example.com")
                        _ = try background.ledger.recipients(delivery: "d\(n + 1)", offset: 0, limit: 20)
                    } catch {
                        shared.failures.withLock { $0.append("\(error)") }
                    }
                }
            }
        }
        readers.forEach { $0.start() }
        defer { shared.stop.store(true, ordering: .relaxed) }
        var checkpointsSeen: Set<UInt64> = []
        for (k, batch) in Self.batches().enumerated() {
            try background.ledger.append(batch)
            try reference.ledger.append(batch)
            if k % 17 == 16 { try background.ledger.checkpoint() }  // a checkpoint in the append's way, now and then
            checkpointsSeen.insert(try background.ledger.projectionInfo().checkpoint)
            for d in ["d1", "d2"] {
                for semantics in [Semantics.classic, .efs] {
                    #expect(try background.ledger.kpis(delivery: d, semantics: semantics) == reference.ledger.kpis(delivery: d, semantics: semantics),
                            "batch \(k), \(d), \(semantics)")
                }
                let page = try background.ledger.recipients(delivery: d, offset: 10, limit: 30)
                #expect(page.recipients == Array(try reference.ledger.recipients(delivery: d).dropFirst(10).prefix(30)), "batch \(k), \(d)")
            }
        }
        shared.stop.store(true, ordering: .relaxed)
        // The background checkpoints landed: the persisted checkpoint moved between the synchronous ones.
        #expect(checkpointsSeen.count > 8, "checkpoints seen: \(checkpointsSeen.sorted())")
        for n in 0..<2_400 {
            let d = "d\(n % 2 + 1)", r = "r\(n)@example.com"
            #expect(try background.ledger.status(delivery: d, recipient: r) == reference.ledger.status(delivery: d, recipient: r), "\(r)")
        }
        for d in ["d1", "d2"] {
            #expect(try background.ledger.timeline(delivery: d, bucketSeconds: 60) == reference.ledger.timeline(delivery: d, bucketSeconds: 60))
        }
        try background.ledger.checkpoint()
        let report = try background.ledger.verify()
        #expect(report.problems.isEmpty, "\(report.problems)")
        #expect(shared.failures.withLock { $0 }.isEmpty, "\(shared.failures.withLock { $0 }.prefix(3))")
    }
}
