import DeliveryLedger
import LedgerIngest
import LedgerTestSupport
import LedgerWorkload
import Testing

/// The generated workload through the real readers and the ledger: every message ends in the
/// status its scenario implies (domain.md §3), whichever ingest path is used, and in spite of the
/// duplicated and out-of-order elements.
@Suite struct EndToEndTests {
    static let spec = WorkloadSpec(deliveries: 2, recipientsPerDelivery: 1_500, seed: 7)

    static func ingest(_ workload: Workload, sparkPost: Bool) throws -> TestLedger {
        let t = try TestLedger()
        let declarations = try FeedReader.read(workload.deliveryDeclarationsJSONL(), file: "declarations", options: IngestOptions(format: .jsonl))
        try t.ledger.append(declarations.events)
        if sparkPost {
            try workload.forEachSparkPostBatch { batch in
                try t.ledger.append(FeedReader.read(batch, file: "batch", options: IngestOptions(format: .sparkpost)).events)
            }
        } else {
            try workload.forEachCanonicalBatch { batch in
                try t.ledger.append(FeedReader.read(batch, file: "batch", options: IngestOptions(format: .jsonl)).events)
            }
        }
        return t
    }

    @Test(arguments: [true, false])
    func everyMessageEndsAsItsScenarioSays(sparkPost: Bool) throws {
        let workload = Workload(spec: Self.spec)
        let t = try Self.ingest(workload, sparkPost: sparkPost)
        var expectedFailed: [String: Int64] = [:], expectedBeforeRelay: [String: Int64] = [:]
        var expectedSent: [String: Int64] = [:], expectedRetrying: [String: Int64] = [:]
        for s in workload.scenarios() {
            let report = try t.ledger.status(delivery: s.delivery, recipient: s.recipient)
            switch s.scenario {
            case .notRelayed:
                // Only auto-replies or complaints could exist without a relay; the scenario has none.
                #expect(report == nil, "\(s.recipient): \(s.scenario)")
                continue
            case .delivered, .softThenDelivered:
                #expect(report?.classic.status == .sent && report?.efs.status == .sent, "\(s.recipient): \(s.scenario)")
                expectedSent[s.delivery, default: 0] += 1
            case .stillRetrying:
                #expect(report?.classic.status == .sent, "\(s.recipient)")
                #expect(report?.efs.status == .takenIntoAccount, "\(s.recipient)")
                #expect(report?.efs.retrying == true && report?.efs.failureType == .soft, "\(s.recipient)")
                expectedRetrying[s.delivery, default: 0] += 1
            case .hardBounce, .asyncBounceAfterDelivery:
                #expect(report?.classic.status == .failed && report?.efs.status == .failed, "\(s.recipient): \(s.scenario)")
                expectedFailed[s.delivery, default: 0] += 1
            case .timeout:
                #expect(report?.efs.status == .failed && report?.efs.failureType == .soft, "\(s.recipient)")
                #expect(report?.events.contains { $0.event.kind == .timeout } == true, "\(s.recipient)")
                expectedFailed[s.delivery, default: 0] += 1
            case .policyRejection:
                #expect(report?.classic.status == .failed && report?.efs.status == .failed, "\(s.recipient)")
                expectedFailed[s.delivery, default: 0] += 1
                expectedBeforeRelay[s.delivery, default: 0] += 1
            }
        }
        for delivery in workload.deliveryIds {
            let efs = try #require(try t.ledger.kpis(delivery: delivery, semantics: .efs))
            let classic = try #require(try t.ledger.kpis(delivery: delivery, semantics: .classic))
            #expect(efs.toDeliver == Int64(Self.spec.recipientsPerDelivery))
            #expect(efs.success == expectedSent[delivery, default: 0])
            #expect(classic.success == expectedSent[delivery, default: 0] + expectedRetrying[delivery, default: 0])
            #expect(efs.failed == expectedFailed[delivery, default: 0])
            #expect(efs.failedBeforeRelay == expectedBeforeRelay[delivery, default: 0])
            #expect(efs.retrying == expectedRetrying[delivery, default: 0])
        }
    }

    @Test func bothIngestPathsGiveTheSameProjection() throws {
        let workload = Workload(spec: Self.spec)
        let a = try Self.ingest(workload, sparkPost: true)
        let b = try Self.ingest(workload, sparkPost: false)
        for delivery in workload.deliveryIds {
            for s in Semantics.allCases {
                #expect(try a.ledger.kpis(delivery: delivery, semantics: s) == b.ledger.kpis(delivery: delivery, semantics: s))
            }
        }
    }
}
