import DeliveryLedger
import Foundation
import Hummingbird

/// The query parameters of a request, decoded as HTML forms send them (`application/x-www-form-urlencoded`:
/// `+` is a space, then percent-decoding), so that an address like `user+tag@example.com` typed in
/// the dashboard's search box arrives intact (`%2B`).
struct Query: Sendable {
    private var values: [String: String] = [:]

    /// Reads the query part of a request target (without the `?`), or none.
    /// - Throws: ``BadParameter`` when a name is given twice (which one was meant cannot be told: the
    ///   first was taken silently, found by a tester) or a name or value is not percent-encoded UTF-8
    ///   (it was passed on undecoded).
    init(_ query: String?) throws(BadParameter) {
        guard let query else { return }
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring, name: String) throws(BadParameter) -> String {
                let spaced = s.replacingOccurrences(of: "+", with: " ")
                guard let decoded = spaced.removingPercentEncoding else {
                    throw BadParameter(name: name, message: "'\(s.prefix(80))' is not percent-encoded UTF-8")
                }
                return decoded
            }
            let key = try decode(parts[0], name: String(parts[0].prefix(80)))
            guard values[key] == nil else { throw BadParameter(name: key, message: "given more than once") }
            values[key] = parts.count > 1 ? try decode(parts[1], name: key) : ""
        }
    }

    /// The value, `nil` when absent or empty.
    subscript(_ name: String) -> String? {
        guard let v = values[name], !v.isEmpty else { return nil }
        return v
    }

    /// `asOf` and `knownAt` as RFC 3339 instants.
    /// - Throws: ``BadParameter`` naming the parameter.
    func bounds() throws(BadParameter) -> TimeBounds {
        var bounds = TimeBounds()
        for name in ["asOf", "knownAt"] {
            guard let text = self[name] else { continue }
            guard let instant = Instant(rfc3339: text) else {
                // A '+' of an offset arrives as a space when the client did not percent-encode it
                // (application/x-www-form-urlencoded reads '+' as a space): say so.
                let hint = text.contains(" ") ? " (a '+' in a URL query reads as a space: write the offset's '+' as %2B, or use Z)" : ""
                throw BadParameter(name: name, message: "'\(text)' " + (Instant.rfc3339Problem(text) ?? "is not an accepted instant") + hint)
            }
            if name == "asOf" { bounds.asOf = instant } else { bounds.knownAt = instant }
        }
        return bounds
    }

    /// A positive integer parameter, or `defaultValue` when absent.
    func positiveInt(_ name: String, default defaultValue: Int, maximum: Int) throws(BadParameter) -> Int {
        guard let text = self[name] else { return defaultValue }
        guard text.allSatisfy(\.isASCII), text.allSatisfy(\.isNumber), let n = Int(text), n >= 1, n <= maximum else {
            throw BadParameter(name: name, message: "'\(text)' is not an integer in 1…\(maximum)")
        }
        return n
    }

    /// A parameter that must be one of the raw values of `T`.
    func oneOf<T: RawRepresentable & CaseIterable>(_ name: String, _ type: T.Type) throws(BadParameter) -> T? where T.RawValue == String {
        guard let text = self[name] else { return nil }
        guard let v = T(rawValue: text) else {
            throw BadParameter(name: name, message: "'\(text)' is not one of \(T.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return v
    }

    /// A required parameter.
    func required(_ name: String) throws(BadParameter) -> String {
        guard let v = self[name] else { throw BadParameter(name: name, message: "missing (it is required)") }
        return v
    }
}

/// A query parameter that is missing or not of its form: answered 400.
struct BadParameter: Error, Sendable, CustomStringConvertible {
    var name: String
    var message: String
    var description: String { "query parameter \(name): \(message)" }
}
