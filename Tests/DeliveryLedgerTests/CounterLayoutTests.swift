@testable import DeliveryLedger
import Testing

/// The per-delivery counters index failures by the order of `FailureType.allCases` and
/// `FailureReason.allCases` (persisted counter vectors depend on it); the hot path computes those
/// places with switches, which must stay in step with the enums' declared order.
struct CounterLayoutTests {
    @Test func ordinalsAreThePlacesInAllCases() {
        for (i, t) in FailureType.allCases.enumerated() { #expect(DeliveryCounters.typeOrdinal(t) == i, "\(t)") }
        for (i, r) in FailureReason.allCases.enumerated() { #expect(DeliveryCounters.reasonOrdinal(r) == i, "\(r)") }
    }

    @Test func everyFailureHasItsOwnCounter() {
        var seen = Set<Int>()
        for t in FailureType.allCases {
            for r in FailureReason.allCases {
                let index = DeliveryCounters.failedIndex(Qualification(t, r))
                #expect(seen.insert(index).inserted, "\(t) \(r)")
                #expect(index < DeliveryCounters.count)
            }
        }
    }

    @Test func reasonCodesRoundTrip() {
        for r in FailureReason.allCases { #expect(FailureReason(code: r.code) == r) }
        #expect(FailureReason(code: 7) == nil && FailureReason(code: -1) == nil)
    }
}
