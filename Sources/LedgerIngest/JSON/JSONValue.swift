import Foundation

/// A decoded JSON value, as the readers see it (internal).
///
/// Produced by the strict reader (``JSONDocument``, ``JSONSyntax``): integers without fraction or
/// exponent that fit `Int64` stay exact, every other number is the nearest `Double`
/// (``JSONText/number(_:)``); an object's repeated name keeps its last value (the feed readers refuse
/// repeated names before any conversion).
enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Why bytes could not be decoded.
    struct DecodeFailure: Error {
        var message: String
    }

    /// Decodes one JSON text (any value at top level) with the strict reader (``JSONSyntax``).
    ///
    /// - Throws: ``DecodeFailure`` with the reader's message and byte offset.
    static func decode(_ bytes: ArraySlice<UInt8>) throws(DecodeFailure) -> JSONValue {
        do {
            return try parse(bytes)
        } catch {
            throw DecodeFailure(message: "\(error.message) (at byte \(error.offset))")
        }
    }

    /// Reads one JSON text (any value at top level): validated by ``JSONSyntax`` with `options`,
    /// then converted whole.
    ///
    /// - Throws: ``JSONSyntaxError`` locating the first fault (offset from the slice's first byte).
    static func parse(_ bytes: ArraySlice<UInt8>, options: JSONReadOptions = JSONReadOptions()) throws(JSONSyntaxError) -> JSONValue {
        let document = try JSONDocument(validating: bytes, options: options)
        return document.value(document.root)
    }

    /// Names the JSON type, for error messages ("a string", "a number", …).
    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .int, .double: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// A short JSON-like rendering for error messages (at most about 80 characters).
    var snippet: String {
        let text: String
        switch self {
        case .null: text = "null"
        case .bool(let b): text = b ? "true" : "false"
        case .int(let i): text = String(i)
        case .double(let d): text = String(d)
        case .string(let s): text = JSONValue.quoted(s)
        case .array: text = "[…]"
        case .object: text = "{…}"
        }
        return text
    }

    /// A string quoted and escaped like JSON, cut to 80 characters.
    static func quoted(_ s: String) -> String {
        var out = "\""
        for (n, c) in s.unicodeScalars.enumerated() {
            if n == 80 { out += "…"; break }
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if c.value < 0x20 { out += "\\u" + String(format: "%04x", c.value) } else { out.unicodeScalars.append(c) }
            }
        }
        return out + "\""
    }
}

extension JSONValue {
    /// A canonical serialisation: object members sorted by the UTF-8 bytes of their names, no white
    /// space, strings with only `"` `\\` and control characters escaped. Two texts that decode to the
    /// same value (other spacing, member order or escapes) give the same bytes: what content-hash
    /// event ids are computed from, so that re-ingesting a re-formatted record is still a no-op.
    var canonicalBytes: [UInt8] {
        var out: [UInt8] = []
        write(into: &out)
        return out
    }

    private func write(into out: inout [UInt8]) {
        switch self {
        case .null: out += Array("null".utf8)
        case .bool(let b): out += Array((b ? "true" : "false").utf8)
        case .int(let i): out += Array(String(i).utf8)
        case .double(let d): out += Array("\(d)".utf8)
        case .string(let s): Self.writeString(s, into: &out)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (i, v) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                v.write(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            out.append(UInt8(ascii: "{"))
            for (i, k) in o.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }).enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                Self.writeString(k, into: &out)
                out.append(UInt8(ascii: ":"))
                o[k]!.write(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out += Array("\\u00".utf8) + [hex[Int(b >> 4)], hex[Int(b & 0xF)]]
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

