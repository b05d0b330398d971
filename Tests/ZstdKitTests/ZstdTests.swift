import Testing
import ZstdKit

/// The zstd wrapper: frames round-trip with and without a dictionary, a dictionary trained on
/// similar documents compresses them, and damage or a wrong dictionary is an error, never wrong bytes.
@Suite struct ZstdTests {
    /// Documents alike in shape (a webhook element's keys and constant values), different in their ids.
    static func documents(_ n: Int) -> [[UInt8]] {
        (0..<n).map { i in
            Array(#"{"msys":{"message_event":{"type":"bounce","bounce_class":"10","campaign_id":"spring-sale","customer_id":"1","event_id":"\#(i * 7919)","friendly_from":"news@example.com","ip_address":"192.0.2.\#(i % 250)","message_id":"0000\#(i)","raw_rcpt_to":"user\#(i)@example.org","rcpt_to":"user\#(i)@example.org","reason":"550 5.1.1 <user\#(i)@example.org>: Recipient address rejected: User unknown","timestamp":"\#(1_764_000_000 + i)"}}}"#.utf8)
        }
    }

    @Test func roundTripsWithoutADictionary() throws {
        for doc in [[UInt8](), [0x41], Array(repeating: 0x61, count: 100_000)] + Self.documents(3) {
            var frame: [UInt8] = [9, 9]  // appended after what is there
            try doc.withUnsafeBytes { try Zstd.compress($0, dictionary: nil, into: &frame) }
            #expect(frame.prefix(2) == [9, 9])
            let back = try frame.dropFirst(2).withUnsafeBytes { try Zstd.decompress($0, dictionary: nil, maximumSize: 1 << 20) }
            #expect(back == doc)
        }
    }

    @Test func aTrainedDictionaryCompressesDocumentsOfTheSameShape() throws {
        let docs = Self.documents(3000)
        let dictionary = try CompressionDictionary(bytes: Zstd.trainDictionary(samples: Array(docs.prefix(2000)), capacity: 16 << 10))
        var plain = 0, withDictionary = 0, original = 0
        for doc in docs.suffix(1000) {
            var a: [UInt8] = [], b: [UInt8] = []
            try doc.withUnsafeBytes { try Zstd.compress($0, dictionary: nil, into: &a) }
            try doc.withUnsafeBytes { try Zstd.compress($0, dictionary: dictionary, into: &b) }
            #expect(try b.withUnsafeBytes { try Zstd.decompress($0, dictionary: dictionary, maximumSize: 1 << 20) } == doc)
            original += doc.count; plain += a.count; withDictionary += b.count
        }
        // Each document alone barely compresses; with the dictionary, what they share is not stored.
        #expect(withDictionary * 4 < original)
        #expect(withDictionary * 2 < plain)
    }

    @Test func damageAWrongDictionaryAndALimitAreErrors() throws {
        let docs = Self.documents(2000)
        let dictionary = try CompressionDictionary(bytes: Zstd.trainDictionary(samples: docs, capacity: 8 << 10))
        var frame: [UInt8] = []
        try docs[5].withUnsafeBytes { try Zstd.compress($0, dictionary: dictionary, into: &frame) }
        #expect(throws: ZstdError.self) { try frame.withUnsafeBytes { try Zstd.decompress($0, dictionary: nil, maximumSize: 1 << 20) } }
        #expect(throws: ZstdError.self) { try frame.withUnsafeBytes { try Zstd.decompress($0, dictionary: dictionary, maximumSize: 10) } }
        #expect(throws: ZstdError.self) { try (frame + [0]).withUnsafeBytes { try Zstd.decompress($0, dictionary: dictionary, maximumSize: 1 << 20) } }
        #expect(throws: ZstdError.self) { try frame.dropLast().withUnsafeBytes { try Zstd.decompress($0, dictionary: dictionary, maximumSize: 1 << 20) } }
        #expect(throws: ZstdError.self) { try [UInt8]("not zstd".utf8).withUnsafeBytes { try Zstd.decompress($0, dictionary: nil, maximumSize: 1 << 20) } }
        #expect(throws: ZstdError.self) { try Zstd.trainDictionary(samples: [[1, 2, 3]], capacity: 4096) }
    }
}
