import Foundation

/// A decoded JSON value, as the readers see it (internal).
///
/// Produced from Foundation's `JSONSerialization`; booleans are told apart from numbers by the
/// `NSNumber` type code, integers that fit `Int64` stay exact, every other number is a `Double`.
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

    /// Decodes one JSON text (any value at top level).
    ///
    /// - Throws: ``DecodeFailure`` as ``foundationValue(_:)`` does.
    static func decode(_ bytes: ArraySlice<UInt8>) throws(DecodeFailure) -> JSONValue {
        JSONValue(foundation: try foundationValue(bytes))
    }

    /// Decodes one JSON text (any value at top level) with Foundation's `JSONSerialization`, and
    /// leaves the result unconverted: `[String: Any]`, `[Any]`, `String`, `NSNumber` or `NSNull`.
    ///
    /// The readers convert only the members they read (``init(foundation:)``, ``FieldAccess``): a
    /// webhook element carries many members that no event needs (subject, tags, metadata…), and
    /// converting the whole tree cost almost as much as the parse itself.
    ///
    /// - Throws: ``DecodeFailure`` saying "not valid UTF-8" or "malformed JSON: …" with Foundation's
    ///   own diagnostic (which names the character offset; nesting deeper than 512 levels is refused
    ///   there, so hostile input cannot exhaust the stack).
    static func foundationValue(_ bytes: ArraySlice<UInt8>) throws(DecodeFailure) -> Any {
        guard isValidUTF8(bytes) else {
            throw DecodeFailure(message: "not valid UTF-8")
        }
        do {
            return try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
        } catch {
            let detail = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String
            guard let detail, !detail.hasPrefix("Unexpected end of file") else {
                throw DecodeFailure(message: "malformed JSON: truncated or not JSON (the record ends inside a value)")
            }
            throw DecodeFailure(message: "malformed JSON: \(detail)")
        }
    }

    /// Whether `bytes` are valid UTF-8. Text that is all ASCII (most records: ids, addresses, codes)
    /// is valid without more ado; only text with other bytes is validated by the standard library.
    static func isValidUTF8(_ bytes: ArraySlice<UInt8>) -> Bool {
        bytes.withUnsafeBufferPointer { buffer in
            let raw = UnsafeRawBufferPointer(buffer)
            var i = 0
            while i + 8 <= raw.count, raw.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
                i += 8
            }
            while i < raw.count, raw[i] < 0x80 { i += 1 }
            return i == raw.count || String(validating: buffer, as: UTF8.self) != nil
        }
    }

    /// Converts `JSONSerialization`'s output: `String`, `[String: Any]` and `[Any]` values, `NSNumber`
    /// and `NSNull` objects.
    ///
    /// The order of the casts is what makes this cheap: a cast that fails because it would need a
    /// bridge (a Swift value to a class type such as `NSNumber`, an object to `String`) searches the
    /// runtime's conformances and costs several times a successful one. So the dynamic type is looked
    /// at first: a `String` is taken as is, an object is tried as `NSNumber` then `NSNull` only, a
    /// Swift value as a dictionary then an array; anything else goes through every cast in turn.
    init(foundation any: Any) {
        let dynamicType = Swift.type(of: any)
        let isObject = dynamicType is AnyClass
        if ObjectIdentifier(dynamicType) == ObjectIdentifier(String.self), let s = any as? String {
            self = .string(s)
        } else if isObject, let n = any as? NSNumber {
            self = JSONValue(number: n)
        } else if isObject, any is NSNull {
            self = .null
        } else if let o = any as? [String: Any] {
            var d: [String: JSONValue] = [:]
            d.reserveCapacity(o.count)
            for (k, v) in o { d[k] = JSONValue(foundation: v) }
            self = .object(d)
        } else if let s = any as? String {
            self = .string(s)
        } else if let a = any as? [Any] {
            self = .array(a.map(JSONValue.init(foundation:)))
        } else if let n = any as? NSNumber {
            self = JSONValue(number: n)
        } else {
            self = .null
        }
    }

    /// A number: booleans are told apart by the `NSNumber` type code, integers that fit `Int64` stay
    /// exact, every other number (unsigned beyond `Int64`, fractions, decimals) is a `Double`.
    private init(number n: NSNumber) {
        let code = n.objCType.pointee
        if code == CChar(UInt8(ascii: "c")) || code == CChar(UInt8(ascii: "B")) {
            self = .bool(n.boolValue)
        } else if code == CChar(UInt8(ascii: "d")) || code == CChar(UInt8(ascii: "f")) || code == CChar(UInt8(ascii: "Q"))
                    || n is NSDecimalNumber {
            self = .double(n.doubleValue)
        } else {
            self = .int(n.int64Value)
        }
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

