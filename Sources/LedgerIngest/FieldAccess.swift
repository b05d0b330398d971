import DeliveryLedger
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Typed access to the members of one decoded record, turning every mismatch into an
/// ``IngestError`` that names the field (internal).
///
/// The record is an object of a validated ``JSONDocument``; a member is converted to a ``JSONValue``
/// only when it is read, so members no event needs are never converted (they have been validated).
struct FieldAccess {
    let document: JSONDocument
    /// The object's members, in text order (names are unique: the readers refuse repeated names).
    let members: ArraySlice<JSONDocument.Member>
    /// Builds the located error for a field (or the whole record when `nil`).
    let fail: (_ field: String?, _ message: String) -> IngestError
    /// Whether numeric fields may arrive as strings of digits (SparkPost: yes; canonical: no).
    let numbersAsStrings: Bool

    /// The member named `name`, JSON `null` included; `nil` when absent.
    func member(_ name: String) -> JSONDocument.Member? {
        var name = name
        return name.withUTF8 { n -> JSONDocument.Member? in
            document.bytes.withUnsafeBufferPointer { text -> JSONDocument.Member? in
                let origin = document.bytes.startIndex
                for m in members {
                    if m.nameEscaped {
                        if document.name(m).utf8.elementsEqual(n) { return m }
                    } else if m.name.count == n.count,
                              n.isEmpty || memcmp(text.baseAddress! + (m.name.lowerBound - origin), n.baseAddress!, n.count) == 0 {
                        return m
                    }
                }
                return nil
            }
        }
    }

    /// The member's value, `nil` when absent or JSON `null`.
    func value(_ name: String) -> JSONValue? {
        guard let member = member(name), !document.isNull(member.value) else { return nil }
        return document.value(member.value)
    }

    func string(_ name: String) throws(IngestError) -> String? {
        guard let v = value(name) else { return nil }
        guard case .string(let s) = v else { throw fail(name, "expected a string, got \(v.typeName) \(v.snippet)") }
        return s
    }

    /// A string, or an integer written as its decimal digits (ids that feeds send either way).
    func identifier(_ name: String) throws(IngestError) -> String? {
        guard let v = value(name) else { return nil }
        switch v {
        case .string(let s): return s
        case .int(let i): return String(i)
        default: throw fail(name, "expected a string or an integer, got \(v.typeName) \(v.snippet)")
        }
    }

    func bool(_ name: String) throws(IngestError) -> Bool? {
        guard let v = value(name) else { return nil }
        guard case .bool(let b) = v else { throw fail(name, "expected true or false, got \(v.typeName) \(v.snippet)") }
        return b
    }

    func int64(_ name: String) throws(IngestError) -> Int64? {
        guard let v = value(name) else { return nil }
        guard let i = IngestRules.integer(v, allowString: numbersAsStrings) else {
            let what = numbersAsStrings ? "an integer (number or string of digits)" : "an integer"
            throw fail(name, "expected \(what), got \(v.typeName) \(v.snippet)")
        }
        return i
    }

    func int(_ name: String) throws(IngestError) -> Int? {
        guard let i = try int64(name) else { return nil }
        // `magnitude`, not `abs`: abs(Int.min) traps (found by a tester: -9223372036854775808 as a
        // bounce class ended the process, and `ledger serve` with it).
        guard let small = Int(exactly: i), small.magnitude <= UInt(Int32.max) else {
            throw fail(name, "number \(i) is out of range")
        }
        return small
    }

    func instant(_ name: String) throws(IngestError) -> Instant? {
        guard let v = value(name) else { return nil }
        guard let instant = IngestRules.instant(from: v) else { throw fail(name, IngestRules.badInstantMessage(v)) }
        return instant
    }
}
