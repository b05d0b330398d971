import DeliveryLedger
import Foundation
import Testing
@testable import LedgerIngest

/// The public JSONTestSuite parsing cases (`../shared/corpus/json-test-suite/test_parsing`, MIT, see
/// its README): every `n_` text is refused with a located error, every `y_` text is accepted with the
/// values `JSONSerialization` gives, every `i_` text gets the verdict documented on ``JSONSyntax`` —
/// read alone, as a member value inside a SparkPost element, and inside a canonical line.
@Suite("JSONTestSuite")
struct JSONTestSuiteTests {
    static let folder = Corpus.folder.appendingPathComponent("json-test-suite/test_parsing")

    static func names(_ prefix: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [])
            .filter { $0.hasPrefix(prefix) && $0.hasSuffix(".json") }.sorted()
    }

    static func text(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: folder.appendingPathComponent(name)))
    }

    /// The `i_` verdicts (JSONSyntax's documentation says why): these are accepted, the others refused.
    static let acceptedImplementationDefined: [String: JSONValue] = [
        "i_number_double_huge_neg_exp.json": .array([.double(0)]),  // 123.456e-789 underflows to 0
        "i_number_real_underflow.json": .array([.double(0)]),
        "i_number_too_big_neg_int.json": .array([.double(-123123123123123123123123123123.0)]),
        "i_number_too_big_pos_int.json": .array([.double(100000000000000000000.0)]),
        "i_number_very_big_negative_int.json": .array([.double(-237462374673276894279832749832423479823246327846.0)]),
        "i_structure_500_nested_arrays.json": (0..<499).reduce(JSONValue.array([])) { inner, _ in .array([inner]) },
    ]

    /// Where Foundation's reading is not the correctly rounded value: `JSONSerialization` reads a
    /// mantissa of more than 19 digits as an `NSDecimalNumber`, whose `doubleValue` is off by a few
    /// units in the last place; the strict reader gives the nearest `Double` (here -1e-78 exactly).
    static let foundationRoundingDiffers: [String: JSONValue] = [
        "y_number_double_close_to_zero.json": .array([.double(-1e-78)]),
    ]

    /// The reference value of a `y_` text: Foundation's reading, or the correctly rounded one above.
    static func reference(_ name: String, _ bytes: [UInt8]) throws -> JSONValue {
        if let value = foundationRoundingDiffers[name] { return value }
        return JSONValue(foundation: try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]))
    }

    /// Texts that are valid JSON but that the feed readers refuse inside a record: repeated member
    /// names (JSONReadOptions.records).
    static let refusedInRecords: Set<String> = ["y_object_duplicated_key.json", "y_object_duplicated_key_and_value.json"]

    @Test("the corpus is there: 95 y_, 188 n_, 35 i_")
    func corpusIsComplete() {
        #expect(Self.names("y_").count == 95)
        #expect(Self.names("n_").count == 188)
        #expect(Self.names("i_").count == 35)
    }

    @Test("y_: accepted, with JSONSerialization's values", arguments: names("y_"))
    func accepted(_ name: String) throws {
        let bytes = try Self.text(name)
        let value = try JSONValue.parse(bytes[...])
        let foundation = try Self.reference(name, bytes)
        #expect(value == foundation, "\(name)")
        // The feed readers' options refuse repeated names only.
        if Self.refusedInRecords.contains(name) {
            #expect(throws: JSONSyntaxError.self) { try JSONValue.parse(bytes[...], options: .records) }
        } else {
            #expect(try JSONValue.parse(bytes[...], options: .records) == foundation)
        }
    }

    @Test("n_: refused, with the byte offset of the fault", arguments: names("n_"))
    func refused(_ name: String) throws {
        let bytes = try Self.text(name)
        do {
            let value = try JSONValue.parse(bytes[...])
            Issue.record("\(name) was accepted as \(value)")
        } catch {
            #expect(error.offset >= 0 && error.offset <= bytes.count, "\(name): \(error)")
            #expect(error.message.hasPrefix("malformed JSON") || error.message.hasPrefix("truncated JSON")
                    || error.message.hasPrefix("not valid UTF-8"), "\(name): \(error.message)")
        }
    }

    @Test("i_: the documented verdict", arguments: names("i_"))
    func implementationDefined(_ name: String) throws {
        let bytes = try Self.text(name)
        if let expected = Self.acceptedImplementationDefined[name] {
            #expect(try JSONValue.parse(bytes[...]) == expected, "\(name)")
        } else {
            #expect(throws: JSONSyntaxError.self, "\(name)") { try JSONValue.parse(bytes[...]) }
        }
    }

    @Test("located errors: offsets point at the fault")
    func offsets() {
        func offset(_ text: String) -> Int? {
            do { _ = try JSONValue.parse(Array(text.utf8)[...]); return nil } catch { return error.offset }
        }
        #expect(offset("[1,]") == 3)
        #expect(offset(#"{"a":1,}"#) == 7)
        #expect(offset("[01]") == 1)
        #expect(offset("[\"a\u{01}\"]") == 3)
        #expect(offset(#"{"a":1,"a":2}"#) == nil)
        #expect((try? JSONValue.parse(Array(#"{"a":1,"b":{"a":3},"a":2}"#.utf8)[...], options: .records)) == nil)
        do { _ = try JSONValue.parse(Array(#"{"a":1,"b":{"a":3},"a":2}"#.utf8)[...], options: .records) } catch {
            #expect(error.offset == 19)
            #expect(error.message.contains("duplicate member name \"a\""))
        }
        #expect(offset(#"["\ud800"]"#) == 2)
        #expect(offset(#"["\udc00\ud800"]"#) == 2)
        #expect(offset("[1e400]") == 1)
        #expect(offset(String(repeating: "[", count: 513) + String(repeating: "]", count: 513)) == 512)
        #expect(offset(String(repeating: "[", count: 512) + String(repeating: "]", count: 512)) == nil)
    }

    @Test("duplicate names are compared after unescaping, byte for byte, in objects of any size")
    func duplicates() {
        func refused(_ text: String) -> Bool { (try? JSONValue.parse(Array(text.utf8)[...], options: .records)) == nil }
        #expect(refused(#"{"a":1,"\u0061":2}"#))
        #expect(!refused(#"{"é":1,"e\u0301":2}"#))  // different code points: different names
        let many = (0..<100).map { "\"k\($0)\":\($0)" }.joined(separator: ",")
        #expect(!refused("{" + many + "}"))
        #expect(refused("{" + many + ",\"k57\":0}"))
        #expect(refused("{" + many + ",\"x\":{" + many + "},\"k99\":0}"))
        #expect(!refused("{" + many + ",\"x\":{" + many + "},\"k100\":0}"))
    }

    // MARK: Embedded in records

    /// A SparkPost webhook batch of one element whose `rcpt_meta` is `text`, without `event_id` so the
    /// event's id hashes the decoded element (rcpt_meta included).
    static func sparkPostBatch(_ text: [UInt8]) -> [UInt8] {
        Array(#"[{"msys":{"message_event":{"type":"delivery","campaign_id":"C","rcpt_to":"a@b.example","rcpt_meta":"#.utf8)
            + text + Array(#","timestamp":"1454442600"}}}]"#.utf8)
    }

    static func expectRefusedInRecords(_ name: String, _ bytes: [UInt8]) {
        let batch = sparkPostBatch(bytes)
        do {
            _ = try FeedReader.read(batch, file: "b.json", options: IngestOptions(format: .sparkpost))
            Issue.record("\(name) embedded in a SparkPost element was accepted")
        } catch {
            // Located: the byte, or (when the text closes the element early) the field left wrong.
            #expect(error.element != nil && (error.offset != nil || error.field != nil), "\(name): \(error)")
        }
        let line = Array(#"{"kind":"bounce","delivery":"D","recipient":"a@b.example","occurredAt":1,"response":"#.utf8) + bytes + Array("}".utf8)
        do {
            _ = try FeedReader.read(line, file: "c.jsonl", options: IngestOptions(format: .jsonl))
            Issue.record("\(name) embedded in a canonical line was accepted")
        } catch {
            #expect(error.line != nil && (error.offset != nil || error.field != nil), "\(name): \(error)")
        }
    }

    @Test("n_ and refused i_ texts inside a SparkPost element and a canonical line: refused, located",
          arguments: names("n_") + names("i_").filter { acceptedImplementationDefined[$0] == nil })
    func refusedEmbedded(_ name: String) throws {
        Self.expectRefusedInRecords(name, try Self.text(name))
    }

    @Test("y_ and accepted i_ texts as a SparkPost rcpt_meta: accepted, the element's values as JSONSerialization reads them",
          arguments: names("y_") + acceptedImplementationDefined.keys.sorted())
    func acceptedInSparkPost(_ name: String) throws {
        let bytes = try Self.text(name)
        let batch = Self.sparkPostBatch(bytes)
        if Self.refusedInRecords.contains(name) {
            let error = try #require(readError(batch, file: "b.json"))
            #expect(error.element == 0 && error.offset != nil && error.message.contains("duplicate member name"))
            return
        }
        let parsed = try FeedReader.read(batch, file: "b.json", options: IngestOptions(format: .sparkpost))
        let event = try #require(parsed.events.first)
        let element = Array(batch.dropFirst().dropLast())
        #expect(event.raw == element)
        if name.hasPrefix("y_") {
            // The id hashes the decoded element: equal to the hash of Foundation's reading of it.
            let foundation = JSONValue(foundation: try JSONSerialization.jsonObject(with: Data(element)))
            guard case .object(let top) = foundation, case .object(let msys)? = top["msys"],
                  case .object(var inner)? = msys["message_event"] else {
                Issue.record("unexpected shape"); return
            }
            inner["rcpt_meta"] = try Self.reference(name, bytes)
            #expect(event.id == "sparkpost:delivery:" + IngestRules.contentHashId(JSONValue.object(inner).canonicalBytes[...]), "\(name)")
        }
    }

    @Test("y_ texts as a canonical line's response: JSON accepted; a string is the response, another value a field error",
          arguments: names("y_").filter { n in (try? text(n))?.contains(where: { $0 == 0x0A || $0 == 0x0D }) == false })
    func acceptedInCanonicalLine(_ name: String) throws {
        let bytes = try Self.text(name)
        let line = Array(#"{"kind":"bounce","delivery":"D","recipient":"a@b.example","occurredAt":1,"response":"#.utf8) + bytes + Array("}".utf8)
        if Self.refusedInRecords.contains(name) {
            let error = try #require(readError(line, file: "c.jsonl", options: IngestOptions(format: .jsonl)))
            #expect(error.line == 1 && error.offset != nil && error.message.contains("duplicate member name"))
            return
        }
        switch try Self.reference(name, bytes) {
        case .string(let s):
            let parsed = try FeedReader.read(line, file: "c.jsonl", options: IngestOptions(format: .jsonl))
            #expect(parsed.events.first?.response == s, "\(name)")
        case .null:
            #expect(try FeedReader.read(line, file: "c.jsonl", options: IngestOptions(format: .jsonl)).events.first?.response == nil)
        default:
            let error = try #require(readError(line, file: "c.jsonl", options: IngestOptions(format: .jsonl)))
            #expect(error.field == "response" && error.message.hasPrefix("expected a string"), "\(name): \(error)")
        }
    }
}
