import Foundation
import DeliveryLedger

/// Why a provider's webhook signature was refused (``MailgunSignature``, ``SendGridSignature``,
/// ``PostalSignature``, ``SNSSignature``).
///
/// Every refusal means the same thing to a webhook endpoint — answer 401 and append nothing — and
/// ``reason`` tells which check failed; ``description`` is for people and never parsed.
public struct WebhookSignatureError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Which check failed.
    public enum Reason: String, Sendable, Hashable {
        /// A signature, timestamp, token or key is absent.
        case missing
        /// Something is present but not in the documented form (bad base64, hex, DER, PEM, JSON).
        case malformed
        /// The signature does not match the signed bytes under the given key.
        case mismatch
        /// The signed timestamp is further from the current time than the tolerance.
        case stale
        /// A scheme or version the provider does not document (e.g. SNS `SignatureVersion` 3).
        case unsupported
    }

    /// Which check failed.
    public var reason: Reason
    /// What was wrong, for people.
    public var message: String

    /// Creates an error.
    public init(_ reason: Reason, _ message: String) {
        self.reason = reason
        self.message = message
    }

    /// `reason: message`.
    public var description: String { "\(reason.rawValue): \(message)" }
}

/// Shared decoding for the verifiers (internal).
enum SignatureEncoding {
    /// Bytes from standard base64 (RFC 4648 §4, Foundation's decoder), white space ignored; `nil`
    /// when malformed.
    static func base64(_ text: String) -> [UInt8]? {
        let compact = String(text.unicodeScalars.filter { $0 != " " && $0 != "\n" && $0 != "\r" && $0 != "\t" })
        return Data(base64Encoded: compact).map { Array($0) }
    }

    /// Bytes from hexadecimal (either case); `nil` when malformed.
    static func hex(_ text: String) -> [UInt8]? {
        let b = Array(text.utf8)
        guard b.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: c - 0x30
            case 0x41...0x46: c - 0x41 + 10
            case 0x61...0x66: c - 0x61 + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        var i = 0
        while i < b.count {
            guard let hi = nibble(b[i]), let lo = nibble(b[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    /// The DER bytes of a key given as PEM (`-----BEGIN … KEY-----` … `-----END …-----`) or as bare
    /// base64 of the DER (how SendGrid's console and Postal's DNS record show them).
    static func derFromPEMOrBase64(_ text: String, what: String) throws(WebhookSignatureError) -> [UInt8] {
        var body = text
        if text.contains("-----BEGIN") {
            let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters() }
            guard let begin = lines.firstIndex(where: { $0.hasPrefix("-----BEGIN") }),
                  let end = lines[(begin + 1)...].firstIndex(where: { $0.hasPrefix("-----END") }) else {
                throw WebhookSignatureError(.malformed, "\(what): a PEM block without its END line")
            }
            body = lines[(begin + 1)..<end].joined()
        }
        guard let der = base64(body), !der.isEmpty else { throw WebhookSignatureError(.malformed, "\(what): not base64 (PEM or bare DER)") }
        return der
    }

    /// The current time's distance from a signed epoch-seconds timestamp, checked against the tolerance.
    static func checkFresh(_ timestamp: String, now: Instant, tolerance: Int64, what: String) throws(WebhookSignatureError) {
        guard let seconds = Int64(timestamp.trimmingWhitespace), seconds >= 0 else {
            throw WebhookSignatureError(.malformed, "\(what) \(JSONValue.quoted(timestamp)) is not epoch seconds")
        }
        let distance = now.millisecondsSinceEpoch / 1000 - seconds
        guard abs(distance) <= tolerance else {
            throw WebhookSignatureError(.stale, "\(what) \(timestamp) is \(abs(distance)) s from now (tolerance \(tolerance) s): a replayed or delayed request")
        }
    }
}

extension Substring {
    /// The text without leading and trailing white space.
    func trimmingCharacters() -> String { String(self).trimmingWhitespace }
}
