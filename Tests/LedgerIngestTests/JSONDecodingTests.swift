import DeliveryLedger
import Foundation
import Testing
@testable import LedgerIngest

/// The decoding layer under the JSON readers: Foundation's objects are converted member by member
/// (only the members a reader reads), the scanner jumps from quote to quote, all-ASCII text skips the
/// UTF-8 validator. Each must give exactly what the plain versions gave.
@Suite("JSON decoding")
struct JSONDecodingTests {
    /// The scanner's former byte-by-byte reading of a string: every `\` takes the next byte.
    static func referenceEndOfString(_ bytes: [UInt8], _ i: Int) -> Int? {
        var j = i + 1
        while j < bytes.count {
            if bytes[j] == UInt8(ascii: "\\") { j += 2; continue }
            if bytes[j] == UInt8(ascii: "\"") { return j + 1 }
            j += 1
        }
        return nil
    }

    /// A run of records reuses the validation's arrays (``JSONSyntax/Scratch``): each text, after a
    /// bigger one, after a refused one (whose arrays were left half-filled), must read exactly as
    /// when validated alone.
    @Test("a reused scratch gives every text the reading a fresh validation gives, after a refused text too")
    func scratchReuse() throws {
        let texts = [
            #"{"a":{"b":[1,{"c":"d","e":{"f":null}}],"g":true},"h":"\u00e9","i":{"j":{"k":{"l":1.5}}}}"#,
            #"{"x":1,"y":{"z":2,"z":3}}"#,   // refused: a repeated name in the inner object
            #"{"m":"n"}"#,
            #"[{"p":1},{"q":{"r":2}},[]]"#,
            #"{"\u0041":1,"B":{"C":[{"D":"E"}]}}"#,
            #"{"s":{"t":"u"}, "s":1}"#,      // refused at the top level
            "{" + (0..<40).map { "\"k\($0)\":{\"v\":\($0)}" }.joined(separator: ",") + "}",
            #"{}"#,
        ]
        let scratch = JSONSyntax.Scratch()
        for (n, text) in texts.enumerated() {
            let bytes = Array(text.utf8)[...]
            let fresh = Result { () throws(JSONSyntaxError) in try JSONDocument(validating: bytes, options: .records) }
            let reused = Result { () throws(JSONSyntaxError) in try JSONDocument(validating: bytes, options: .records, scratch: scratch) }
            switch (fresh, reused) {
            case (.success(let a), .success(let b)):
                #expect(a.value(a.root) == b.value(b.root), "text \(n)")
                #expect(a.members(a.root).map(Array.init)?.map(\.value) == b.members(b.root).map(Array.init)?.map(\.value), "text \(n)")
                b.recycle(into: scratch)
            case (.failure(let a), .failure(let b)):
                #expect(a.message == b.message && a.offset == b.offset, "text \(n)")
            default:
                Issue.record("text \(n): fresh \(fresh), reused \(reused)")
            }
        }
        #expect(throws: JSONSyntaxError.self) { try JSONDocument(validating: Array(texts[1].utf8)[...], options: .records, scratch: scratch) }
    }

    /// The duplicate check hashes names by ``JSONSyntax/fingerprint(_:)``: names alike in length and
    /// in their first and last eight bytes must still get distinct fingerprints (when only those bytes
    /// counted, 37,000 such names shared one slot and one 1 MB element took 5 s to check).
    @Test("names that differ only in their middle bytes get distinct fingerprints")
    func fingerprintsCountEveryByte() {
        var seen = Set<UInt64>()
        for n in 0..<37_000 {
            var name = Array("aaaaaaaa\(String(format: "%05d", n))bbbbbbbb".utf8)
            seen.insert(name.withUnsafeMutableBufferPointer { JSONSyntax.fingerprint(UnsafeBufferPointer($0)) })
        }
        #expect(seen.count == 37_000)
        // And such an object is still checked exactly: one repeated name among them is refused.
        let members = (0..<2_000).map { "\"aaaaaaaa\(String(format: "%05d", $0))bbbbbbbb\":0" }
        #expect(throws: JSONSyntaxError.self) {
            try JSONSyntax.validate(Array(("{" + (members + [members[1_234]]).joined(separator: ",") + "}").utf8)[...], options: .records)
        }
        #expect(throws: Never.self) { try JSONSyntax.validate(Array(("{" + members.joined(separator: ",") + "}").utf8)[...], options: .records) }
    }

    @Test("endOfString agrees with a byte-by-byte reading on random strings of quotes and backslashes")
    func endOfStringMatchesReference() {
        var rng = SystemRandomNumberGenerator()
        let alphabet: [UInt8] = Array(#"ab"\\é"#.utf8)
        for _ in 0..<20_000 {
            let count = Int.random(in: 1...24, using: &rng)
            var bytes = (0..<count).map { _ in alphabet.randomElement(using: &rng)! }
            bytes[0] = UInt8(ascii: "\"")
            let scanner = JSONScanner(bytes: bytes)
            for i in bytes.indices where bytes[i] == UInt8(ascii: "\"") {
                let expected = Self.referenceEndOfString(bytes, i)
                let got = try? scanner.endOfString(i)
                #expect(got == expected, "\(String(decoding: bytes, as: UTF8.self)) from \(i)")
            }
        }
    }

    @Test("a string that is not closed is reported at its opening quote")
    func unclosedString() {
        let bytes = utf8(#"{"a":"x\"}"#)
        #expect(throws: JSONScanner.Failure.self) { try JSONScanner(bytes: bytes).endOfString(5) }
        #expect((try? JSONScanner(bytes: utf8(#""\\""#)).endOfString(0)) == 4)
    }

    @Test("the strict reader's UTF-8 check agrees with the standard library on ASCII, mixed and broken text")
    func utf8Validation() {
        var rng = SystemRandomNumberGenerator()
        let pieces: [[UInt8]] = [
            utf8("plain ascii text, 0123456789"), utf8("é"), utf8("🛍️"), [0xFF], [0xC3], [0x80], [0xED, 0xA0, 0x80],
            [0xF4, 0x90, 0x80, 0x80], [0xC0, 0xAF], [0xE0, 0x80, 0xAF], [0xF0, 0x9F, 0x98],
        ]
        for _ in 0..<5_000 {
            var bytes: [UInt8] = []
            for _ in 0..<Int.random(in: 0...6, using: &rng) { bytes += pieces.randomElement(using: &rng)! }
            let accepted = (try? JSONValue.parse(([UInt8(ascii: "\"")] + bytes + [UInt8(ascii: "\"")])[...])) != nil
            #expect(accepted == (String(validating: bytes, as: UTF8.self) != nil), "\(bytes)")
        }
    }

    @Test("conversion of every JSON type: booleans are not numbers, integers stay exact")
    func conversion() throws {
        let text = #"""
            {"s":"x\u00e9","t":true,"f":false,"z":0,"i":-42,"big":9223372036854775807,"u":18446744073709551615,
             "d":1.5,"e":1e2,"n":null,"a":[1,"b",null,{}],"o":{"k":[]}}
            """#
        let value = try JSONValue.decode(utf8(text)[...])
        #expect(value == .object([
            "s": .string("xé"), "t": .bool(true), "f": .bool(false), "z": .int(0), "i": .int(-42),
            "big": .int(Int64.max), "u": .double(Double(UInt64.max)), "d": .double(1.5), "e": .double(100),
            "n": .null, "a": .array([.int(1), .string("b"), .null, .object([:])]), "o": .object(["k": .array([])]),
        ]))
        for (fragment, expected) in [("\"s\"", JSONValue.string("s")), ("true", .bool(true)), ("7", .int(7)), ("null", .null)] {
            #expect(try JSONValue.decode(utf8(fragment)[...]) == expected)
        }
    }

    @Test("SparkPost: a member no event needs is not converted, but is still checked by the decoder")
    func unreadMembersAreStillValidated() throws {
        let element = msys("delivery", "\"subject\":\"tab\there\"")
        let error = try #require(readError(utf8("[" + element + "]"), file: "batch.json"))
        #expect(error.element == 0)
        #expect(error.message.hasPrefix("malformed JSON: control character byte 0x09"))
        #expect(error.offset == utf8("[" + element).firstIndex(of: 0x09))
    }

    @Test("SparkPost: without event_id the id hashes the whole event, whatever its spacing and member order")
    func contentHashCoversEveryMember() throws {
        let a = #"[{"type":"delivery","campaign_id":"C","rcpt_to":"a@b.example","timestamp":"1454442600","rcpt_meta":{"x":[1,2.5,true,null]}}]"#
        let b = #"[ { "rcpt_meta" : { "x" : [ 1, 2.5, true, null ] }, "timestamp":"1454442600", "rcpt_to":"a@b.example", "campaign_id":"C", "type":"delivery" } ]"#
        let c = #"[{"type":"delivery","campaign_id":"C","rcpt_to":"a@b.example","timestamp":"1454442600","rcpt_meta":{"x":[1,2.5,false,null]}}]"#
        let ids = try [a, b, c].map { try #require(try FeedReader.read(utf8($0), file: "f.json", options: IngestOptions()).events.first).id }
        #expect(ids[0].hasPrefix("sparkpost:delivery:sha256:"))
        #expect(ids[0] == ids[1])
        #expect(ids[0] != ids[2])
    }

    @Test("SparkPost: a delivery key path reaches into nested objects; a number there must be an integer")
    func deliveryKeyPath() throws {
        let good = "[" + msys("delivery", #""rcpt_meta":{"ids":{"delivery":1234}}"#) + "]"
        let options = IngestOptions(deliveryKey: "rcpt_meta.ids.delivery")
        #expect(try FeedReader.read(utf8(good), file: "f.json", options: options).events.first?.delivery == "1234")
        let bad = "[" + msys("delivery", #""rcpt_meta":{"ids":{"delivery":12.5}}"#) + "]"
        let error = try #require(readError(utf8(bad), file: "f.json", options: options))
        #expect(error.field == "rcpt_meta.ids.delivery")
        #expect(error.message == "expected a string or an integer delivery id, got a number 12.5")
    }

    @Test("JSONL: the first unknown and the first misplaced member are reported in name order")
    func firstOffendingMemberByName() throws {
        let unknown = #"{"zeta":1,"kind":"relay","alpha":2,"id":"x","delivery":"d","recipient":"a@b.example","occurredAt":"2026-11-02T09:00:00Z"}"#
        #expect(readError(utf8(unknown), file: "f.jsonl")?.field == "alpha")
        let misplaced = #"{"toDeliver":5,"kind":"relay","label":null,"enabled":true,"id":"x","delivery":"d","recipient":"a@b.example","occurredAt":"2026-11-02T09:00:00Z"}"#
        let error = readError(utf8(misplaced), file: "f.jsonl")
        #expect(error?.field == "enabled")
        #expect(error?.message == "does not apply to a relay event")
    }
}
