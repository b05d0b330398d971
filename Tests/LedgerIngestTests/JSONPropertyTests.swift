import Foundation
import Testing
@testable import LedgerIngest

/// Property tests of the strict reader against Foundation's `JSONSerialization`: random valid
/// documents (nested objects and arrays, every escape, multi-byte characters, numbers at their
/// limits, random white space) read to the same values; random mutations of them are either refused
/// with an offset inside the text, or read to the value Foundation reads from the mutated text.
@Suite("JSON reader properties")
struct JSONPropertyTests {
    /// SplitMix64 (seeded: a failure is reproducible from the printed seed).
    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Numbers at their limits, as text, with the value a reader must give.
    static let limitNumbers: [(String, JSONValue)] = [
        ("0", .int(0)), ("-0", .int(0)), ("-0.0", .double(-0.0)), ("9223372036854775807", .int(Int64.max)),
        ("-9223372036854775807", .int(-Int64.max)), ("9223372036854775808", .double(9223372036854775808.0)),
        ("18446744073709551615", .double(18446744073709551615.0)), ("1.7976931348623157e308", .double(.greatestFiniteMagnitude)),
        ("-1.7976931348623157E+308", .double(-.greatestFiniteMagnitude)), ("5e-324", .double(.leastNonzeroMagnitude)),
        ("2.2250738585072014e-308", .double(.leastNormalMagnitude)), ("1E2", .double(100)), ("0.5", .double(0.5)),
        ("1e-400", .double(0)), ("123456789", .int(123_456_789)), ("-1", .int(-1)),
    ]

    static let characters: [String] = ["a", "Z", " ", "é", "€", "😀", "\u{7F}", "/", "'", "\u{2028}", "ß", "中"]
    static let escapes: [(String, String)] = [
        (#"\""#, "\""), (#"\\"#, "\\"), (#"\/"#, "/"), (#"\b"#, "\u{08}"), (#"\f"#, "\u{0C}"), (#"\n"#, "\n"),
        (#"\r"#, "\r"), (#"\t"#, "\t"), (#"\u0000"#, "\u{00}"), (#"\u00e9"#, "é"), (#"\uD83D\uDE00"#, "😀"), (#"\u001F"#, "\u{1F}"),
    ]

    static func whitespace(_ rng: inout SplitMix64) -> String {
        ["", "", "", " ", "\n", "\t", "\r\n  "][Int(rng.next() % 7)]
    }

    /// A random string: its JSON text and its value.
    static func string(_ rng: inout SplitMix64) -> (String, String) {
        var text = "\"", value = ""
        for _ in 0..<Int(rng.next() % 8) {
            if rng.next() % 3 == 0 {
                let (t, v) = escapes[Int(rng.next() % UInt64(escapes.count))]
                text += t; value += v
            } else {
                let c = characters[Int(rng.next() % UInt64(characters.count))]
                text += c; value += c
            }
        }
        return (text + "\"", value)
    }

    /// A random document: its text and its value.
    static func document(_ rng: inout SplitMix64, depth: Int = 0) -> (String, JSONValue) {
        let pick = depth >= 4 ? rng.next() % 5 : rng.next() % 7
        switch pick {
        case 0: return ("null", .null)
        case 1: return rng.next() % 2 == 0 ? ("true", .bool(true)) : ("false", .bool(false))
        case 2:
            if rng.next() % 2 == 0 { return limitNumbers[Int(rng.next() % UInt64(limitNumbers.count))] }
            let d = Double(bitPattern: rng.next())
            guard d.isFinite else { return ("1", .int(1)) }
            return ("\(d)", .double(d))
        case 3:
            let i = Int64(bitPattern: rng.next()) >> Int64(rng.next() % 63)
            return ("\(i)", .int(i))
        case 4:
            let (t, v) = string(&rng)
            return (t, .string(v))
        case 5:
            var items: [String] = [], values: [JSONValue] = []
            for _ in 0..<Int(rng.next() % 5) {
                let (t, v) = document(&rng, depth: depth + 1)
                items.append(whitespace(&rng) + t + whitespace(&rng))
                values.append(v)
            }
            return ("[" + items.joined(separator: ",") + "]", .array(values))
        default:
            var items: [String] = [], values: [String: JSONValue] = [:]
            for n in 0..<Int(rng.next() % 5) {
                let (kt, kv) = string(&rng)
                let key = kt.dropLast() + "#\(n)\""  // unique names
                let (t, v) = document(&rng, depth: depth + 1)
                items.append(whitespace(&rng) + key + whitespace(&rng) + ":" + whitespace(&rng) + t + whitespace(&rng))
                values[kv + "#\(n)"] = v
            }
            return ("{" + items.joined(separator: ",") + "}", .object(values))
        }
    }

    /// Equal, with numbers compared to a relative 1e-13: Foundation reads negative integers of 19
    /// digits and mantissas of 19 digits or more through `NSDecimalNumber`, whose `doubleValue` is off
    /// by up to tens of units in the last place (JSONText.number's docs); the strict reader gives the
    /// exact integer or the correctly rounded `Double` (checked against the generated values).
    static func close(_ a: JSONValue, _ b: JSONValue) -> Bool {
        func near(_ x: Double, _ y: Double) -> Bool { x == y || abs(x - y) <= 1e-13 * max(abs(x), abs(y)) }
        switch (a, b) {
        case let (.double(x), .double(y)): return near(x, y)
        case let (.int(x), .double(y)), let (.double(y), .int(x)): return near(Double(x), y)
        case let (.array(x), .array(y)): return x.count == y.count && zip(x, y).allSatisfy(close)
        case let (.object(x), .object(y)): return x.count == y.count && x.allSatisfy { k, v in y[k].map { close(v, $0) } ?? false }
        default: return a == b
        }
    }

    static func foundation(_ bytes: [UInt8]) -> JSONValue? {
        (try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])).map(JSONValue.init(foundation:))
    }

    @Test("random valid documents read to the generated values and to Foundation's", arguments: [1, 2, 3, 4] as [UInt64])
    func validDocuments(_ seed: UInt64) throws {
        var rng = SplitMix64(state: seed)
        for _ in 0..<2_000 {
            let (text, expected) = Self.document(&rng)
            let padded = Self.whitespace(&rng) + text + Self.whitespace(&rng)
            let bytes = Array(padded.utf8)
            let value = try JSONValue.parse(bytes[...])
            #expect(value == expected, "seed \(seed): \(padded)")
            let reference = try #require(Self.foundation(bytes), "Foundation refused \(padded)")
            #expect(Self.close(value, reference), "seed \(seed): \(padded)")
        }
    }

    @Test("random mutations: refused with an offset in the text, or read as Foundation reads them", arguments: [11, 12, 13, 14] as [UInt64])
    func mutations(_ seed: UInt64) throws {
        var rng = SplitMix64(state: seed)
        let inserts: [UInt8] = Array(#",]}"\0-eE.+:{[tn 5"#.utf8) + [0x00, 0x1F, 0x7F, 0x80, 0xBF, 0xC3, 0xED, 0xF4, 0xFF, 0x5C]
        var refused = 0, accepted = 0
        for _ in 0..<4_000 {
            var bytes = Array(Self.document(&rng).0.utf8)
            for _ in 0...(rng.next() % 3) {
                let at = bytes.isEmpty ? 0 : Int(rng.next() % UInt64(bytes.count))
                switch rng.next() % 4 {
                case 0 where !bytes.isEmpty: bytes.remove(at: at)
                case 1: bytes.insert(inserts[Int(rng.next() % UInt64(inserts.count))], at: min(at, bytes.count))
                case 2 where !bytes.isEmpty: bytes[at] = inserts[Int(rng.next() % UInt64(inserts.count))]
                default:
                    if !bytes.isEmpty { let end = min(bytes.count, at + Int(rng.next() % 4) + 1); bytes.insert(contentsOf: bytes[at..<end], at: at) }
                }
            }
            do {
                let value = try JSONValue.parse(bytes[...])
                accepted += 1
                let reference = Self.foundation(bytes)
                #expect(reference.map { Self.close(value, $0) } ?? false,
                        "seed \(seed): accepted \(String(decoding: bytes, as: UTF8.self)) as \(value), Foundation: \(String(describing: reference))")
            } catch {
                refused += 1
                #expect(error.offset >= 0 && error.offset <= bytes.count)
            }
        }
        #expect(refused > 100 && accepted > 100)
    }
}
