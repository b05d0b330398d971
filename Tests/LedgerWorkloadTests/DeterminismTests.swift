import Foundation
import LedgerWorkload
import Testing

@Suite("Determinism: same spec, same bytes")
struct DeterminismTests {
    @Test("SplitMix64 reproduces its reference sequence")
    func splitMixReference() {
        // Reference values of SplitMix64 seeded with 0 (Vigna's splitmix64.c).
        var rng = SplitMix64(seed: 0)
        #expect(rng.next() == 0xE220_A839_7B1D_CDAF)
        #expect(rng.next() == 0x6E78_9E6A_A1B9_65F4)
        #expect(rng.next() == 0x06C4_5D18_8009_454F)
        var a = SplitMix64(seed: 42), b = SplitMix64(seed: 42), c = SplitMix64(seed: 43)
        let first = (0..<8).map { _ in a.next() }
        #expect(first == (0..<8).map { _ in b.next() })
        #expect(first != (0..<8).map { _ in c.next() })
    }

    @Test("The same seed gives identical bytes for every output")
    func sameSeedSameBytes() {
        let spec = WorkloadSpec(deliveries: 2, recipientsPerDelivery: 3_000, seed: 1234)
        let a = Workload(spec: spec), b = Workload(spec: spec)
        #expect(a.sparkPostBatches() == b.sparkPostBatches())
        #expect(a.canonicalJSONL() == b.canonicalJSONL())
        #expect(a.deliveryDeclarationsJSONL() == b.deliveryDeclarationsJSONL())
        #expect(a.scenarios() == b.scenarios())
        #expect(a.elementCount == b.elementCount && a.batchCount == b.batchCount)
    }

    @Test("Streaming and collected renderings are the same bytes")
    func streamingMatchesCollected() {
        let w = Fixtures.twoDeliveries
        var streamed: [[UInt8]] = []
        w.forEachSparkPostBatch { streamed.append($0) }
        #expect(streamed == w.sparkPostBatches())
        var lines: [UInt8] = []
        w.forEachCanonicalBatch { lines += $0 }
        #expect(lines == w.canonicalJSONL())
    }

    @Test("A different seed gives different bytes", arguments: [UInt64(0), 1, 43, .max])
    func differentSeedDifferentBytes(seed: UInt64) {
        var spec = WorkloadSpec(recipientsPerDelivery: 2_000)
        let base = Workload(spec: spec)
        spec.seed = seed
        let other = Workload(spec: spec)
        #expect(base.sparkPostBatches() != other.sparkPostBatches())
        #expect(base.canonicalJSONL() != other.canonicalJSONL())
        #expect(base.scenarios().map(\.scenario) != other.scenarios().map(\.scenario))
    }

    @Test("The default spec is the documented one")
    func defaults() {
        let spec = WorkloadSpec()
        #expect(spec.deliveries == 1)
        #expect(spec.recipientsPerDelivery == 10_000)
        #expect(spec.seed == 42)
        #expect(spec.start == 1_793_610_000_000)  // 2026-11-02T09:00:00Z
        #expect(spec.validitySeconds == 432_000)
        #expect(spec.duplicateRate == 0.05)
        #expect(spec.outOfOrderRate == 0.10)
        #expect(spec.eventsPerBatch == 500)
        #expect(Scenario.allCases.map(\.nominalPerMille).reduce(0, +) == 1000)
    }
}
