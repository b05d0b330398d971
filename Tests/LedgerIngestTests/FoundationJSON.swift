import Foundation
@testable import LedgerIngest

/// Foundation's reading of JSON as a ``JSONValue``: the reference the strict reader is compared with
/// (JSONTestSuite cases, property tests). Booleans are told apart from numbers by the `NSNumber`
/// type code, integers that fit `Int64` stay exact, every other number is a `Double`.
extension JSONValue {
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

}
