import Crypto
import Foundation

/// The HTTP Basic credentials (RFC 7617) a webhook sender must present: one or more `user:password`
/// pairs, all accepted at once, so that a password can be rotated without a gap (add the new pair,
/// move the sender to it, remove the old one).
///
/// Only SHA-256 digests of the pairs are kept. A presented pair is hashed and compared with **every**
/// stored digest by a constant-time comparison that never stops early, so the time taken does not
/// depend on which pair matched, on how many bytes of it were right, nor on its length.
public struct Credentials: Sendable {
    private let digests: [[UInt8]]

    /// The number of accepted pairs.
    public var count: Int { digests.count }

    /// Reads pairs from text: one `user:password` a line (the password is everything after the first
    /// colon, as RFC 7617 §2 splits it); blank lines and lines starting with `#` are ignored; a trailing
    /// `\r` is dropped.
    ///
    /// - Parameters:
    ///   - text: the file's or variable's contents.
    ///   - source: where the text came from, named in errors (a path, `$LEDGER_WEBHOOK_CREDENTIALS`).
    /// - Throws: ``CredentialsError`` naming the source and line when a line has no colon, an empty
    ///   user or an empty password, or when no pair is given at all.
    public init(text: String, source: String) throws(CredentialsError) {
        var digests: [[UInt8]] = []
        // Split on LF bytes, not Characters: "\r\n" is one Character in Swift.
        for (n, bytes) in text.utf8.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            var line = Substring(decoding: bytes, as: UTF8.self)
            if line.hasSuffix("\r") { line = line.dropLast() }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            guard let colon = line.firstIndex(of: ":") else {
                throw CredentialsError(source: source, line: n + 1, message: "expected user:password")
            }
            guard colon != line.startIndex else { throw CredentialsError(source: source, line: n + 1, message: "the user is empty") }
            guard line.index(after: colon) != line.endIndex else {
                throw CredentialsError(source: source, line: n + 1, message: "the password is empty")
            }
            digests.append(Array(SHA256.hash(data: Array(line.utf8))))
        }
        guard !digests.isEmpty else { throw CredentialsError(source: source, line: nil, message: "no user:password line") }
        self.digests = digests
    }

    /// Whether an `Authorization` header value carries one of the pairs: `Basic <base64 of
    /// user:password>` (RFC 7617 §2; the scheme name is case-insensitive, RFC 9110 §11.1).
    public func accepts(authorization: String?) -> Bool {
        guard let authorization else { return false }
        let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "basic",
              let decoded = Data(base64Encoded: String(parts[1]).trimmingCharacters(in: .whitespaces)) else { return false }
        return accepts(pair: Array(decoded))
    }

    /// Whether `pair` (the bytes `user:password`) is one of the accepted pairs, in constant time.
    public func accepts(pair: [UInt8]) -> Bool {
        let presented = Array(SHA256.hash(data: pair))
        var matched: UInt8 = 0
        for digest in digests {
            var difference: UInt8 = 0
            for i in 0..<digest.count { difference |= digest[i] ^ presented[i] }
            // 1 when every byte is equal, without a branch on the data.
            matched |= UInt8(truncatingIfNeeded: (Int(difference) - 1) >> 8) & 1
        }
        return matched == 1
    }
}

/// A credentials file or variable that cannot be used.
public struct CredentialsError: Error, Sendable, CustomStringConvertible {
    /// The file path or variable name.
    public var source: String
    /// The 1-based line, when the error is about one.
    public var line: Int?
    /// What is wrong.
    public var message: String

    /// `source:line: message`.
    public var description: String { "\(source)\(line.map { ":\($0)" } ?? ""): \(message)" }
}
