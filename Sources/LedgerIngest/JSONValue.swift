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
    /// - Throws: ``DecodeFailure`` saying "not valid UTF-8" or "malformed JSON: …" with Foundation's
    ///   own diagnostic (which names the character offset).
    static func decode(_ bytes: ArraySlice<UInt8>) throws(DecodeFailure) -> JSONValue {
        guard String(validating: bytes, as: UTF8.self) != nil else {
            throw DecodeFailure(message: "not valid UTF-8")
        }
        let any: Any
        do {
            any = try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
        } catch {
            let detail = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String
            throw DecodeFailure(message: "malformed JSON (truncated or not JSON)" + (detail.map { ": \($0)" } ?? ""))
        }
        return JSONValue(foundation: any)
    }

    init(foundation any: Any) {
        switch any {
        case let s as String:
            self = .string(s)
        case let n as NSNumber:
            let code = String(cString: n.objCType)
            if code == "c" || code == "B" {
                self = .bool(n.boolValue)
            } else if n is NSDecimalNumber || code == "d" || code == "f" || code == "Q" {
                self = .double(n.doubleValue)
            } else {
                self = .int(n.int64Value)
            }
        case let a as [Any]:
            self = .array(a.map(JSONValue.init(foundation:)))
        case let o as [String: Any]:
            var d: [String: JSONValue] = [:]
            d.reserveCapacity(o.count)
            for (k, v) in o { d[k] = JSONValue(foundation: v) }
            self = .object(d)
        default:
            self = .null
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
