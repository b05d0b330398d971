import DeliveryLedger
import Testing

/// RFC 3339 instants as feeds send them (``Instant/init(rfc3339:)``).
@Suite struct InstantParsingTests {
    @Test func aLeapSecondIsTheLastMillisecondOfSecond59() {
        // RFC 3339 §5.7's own example of a leap second, in UTC and with an offset (§5.8).
        #expect(Instant(rfc3339: "1990-12-31T23:59:60Z")?.rfc3339 == "1990-12-31T23:59:59.999Z")
        #expect(Instant(rfc3339: "1990-12-31T15:59:60-08:00")?.rfc3339 == "1990-12-31T23:59:59.999Z")
        // It stays before the next minute.
        let leap = Instant(rfc3339: "2016-12-31T23:59:60Z")!, next = Instant(rfc3339: "2017-01-01T00:00:00Z")!
        #expect(leap < next)
    }

    @Test func impossibleTimesAreRefused() {
        for text in ["2026-12-31T23:59:61Z", "2026-02-30T00:00:00Z", "2026-12-31T24:00:00Z", "2026-13-01T00:00:00Z", "2026-12-31T23:60:00Z"] {
            #expect(Instant(rfc3339: text) == nil, "\(text)")
        }
    }
}
