import DeliveryLedger
import Testing

/// ``Event/serializedRecord()`` and ``Event/init(serializedRecord:)`` give back an equal event
/// (what `ledger ingest` relies on to keep the checked events of a large input in a file).
@Suite struct EventSerializationTests {
    static let events: [Event] = [
        Event(id: "r1", kind: .relay, delivery: "d1", recipient: "a@example.com", occurredAt: Instant(millisecondsSinceEpoch: 1_762_074_000_000)),
        Event(id: "b1", kind: .bounce, delivery: "d1", recipient: "b@example.com", occurredAt: Instant(millisecondsSinceEpoch: -5),
              final: false, inBand: true, beforeRelay: true, bounceClass: 21, smtpCode: 452, enhancedStatus: "4.2.2",
              response: "452 4.2.2 Mailbox full — boîte pleine 満杯", qualification: Qualification(.soft, .mailboxFull),
              qualifier: "rules-x#mailbox-full", attempt: 3, validitySeconds: 432_000, label: "Décembre",
              source: .sparkpost, raw: Array(#"{"msys":{}}"#.utf8) + [0, 255]),
        Event(id: "dl", kind: .delivery, delivery: "d2", occurredAt: Instant(millisecondsSinceEpoch: 0), validitySeconds: -1,
              toDeliver: 1_000_000, label: ""),
        Event(id: "efs", kind: .efsFlag, delivery: "", occurredAt: Instant(millisecondsSinceEpoch: 1), enabled: false),
    ]

    @Test(arguments: events) func roundTrip(_ e: Event) throws {
        let bytes = e.serializedRecord()
        let back = try bytes.withUnsafeBytes { try Event(serializedRecord: $0) }
        #expect(back == e)
    }

    @Test func truncatedBytesAreRefused() {
        let bytes = Self.events[1].serializedRecord()
        for cut in [0, 1, 7, bytes.count / 2, bytes.count - 1] {
            #expect(throws: CorruptRecordError.self) { try bytes[0..<cut].withUnsafeBytes { try Event(serializedRecord: $0) } }
        }
    }
}
