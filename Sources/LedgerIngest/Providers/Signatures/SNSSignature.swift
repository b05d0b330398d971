import _CryptoExtras
import Crypto
import DeliveryLedger
import Foundation

/// Verifies the signature of an Amazon SNS message (how SES notifications arrive over HTTP), and
/// reads the envelope fields an endpoint needs (Amazon SNS Developer Guide, "Verifying the
/// signatures of Amazon SNS messages"):
/// - the **string to sign** is the message's fields, each as `Name\nvalue\n`, in this order:
///   `Notification` — `Message`, `MessageId`, `Subject` (only when present), `Timestamp`, `TopicArn`,
///   `Type`; `SubscriptionConfirmation` and `UnsubscribeConfirmation` — `Message`, `MessageId`,
///   `SubscribeURL`, `Timestamp`, `Token`, `TopicArn`, `Type`;
/// - `SignatureVersion` `1` is RSA PKCS #1 v1.5 with SHA-1, `2` with SHA-256; `Signature` is base64;
/// - the key is the RSA public key of the X.509 certificate at `SigningCertURL`, which must be an
///   `https` URL on an Amazon SNS host (``isAllowedCertificateURL(_:)``). Fetching and caching the
///   certificate is the endpoint's job: this function takes it as PEM.
///
/// Pure and HTTP-agnostic. SNS retries a delivery for up to hours under its delivery policy, so the
/// `Timestamp` is not refused as stale unless the caller gives a tolerance.
public enum SNSSignature {
    /// The fields of an SNS message (strings; absent fields are `nil`).
    public struct Envelope: Sendable, Hashable {
        /// `Notification`, `SubscriptionConfirmation` or `UnsubscribeConfirmation`.
        public var type: String
        public var messageId: String
        public var topicArn: String
        public var subject: String?
        /// The payload: for SES, the notification's JSON text.
        public var message: String
        /// RFC 3339 UTC text.
        public var timestamp: String
        public var signatureVersion: String
        public var signature: String
        public var signingCertURL: String
        /// For subscription messages: the URL to visit (GET) to confirm the subscription.
        public var subscribeURL: String?
        public var token: String?

        /// The string SNS signed (see ``SNSSignature``).
        public var stringToSign: String {
            var fields: [(String, String?)] = [("Message", message), ("MessageId", messageId)]
            if type == "Notification" {
                fields += [("Subject", subject), ("Timestamp", timestamp), ("TopicArn", topicArn), ("Type", type)]
            } else {
                fields += [("SubscribeURL", subscribeURL), ("Timestamp", timestamp), ("Token", token), ("TopicArn", topicArn), ("Type", type)]
            }
            return fields.compactMap { name, value in value.map { "\(name)\n\($0)\n" } }.joined()
        }
    }

    /// Reads the envelope of an SNS HTTP(S) POST body (strict JSON, repeated names refused).
    ///
    /// - Throws: ``WebhookSignatureError`` `.malformed` when the body is not a JSON object of the SNS
    ///   fields, `.missing` when a signed field or the signature is absent.
    public static func envelope(body: [UInt8]) throws(WebhookSignatureError) -> Envelope {
        let doc: JSONDocument
        do { doc = try JSONDocument(validating: body[...], options: .records) } catch {
            throw WebhookSignatureError(.malformed, "the SNS message is not JSON: \(error.message) (byte \(error.offset))")
        }
        guard let members = doc.members(doc.root) else { throw WebhookSignatureError(.malformed, "the SNS message is not a JSON object") }
        func text(_ name: String) throws(WebhookSignatureError) -> String? {
            guard let m = members.first(where: { doc.nameIs($0, name) }) else { return nil }
            switch doc.value(m.value) {
            case .string(let s): return s
            case .null: return nil
            default: throw WebhookSignatureError(.malformed, "the SNS field \(name) is not a string")
            }
        }
        func required(_ name: String) throws(WebhookSignatureError) -> String {
            guard let v = try text(name) else { throw WebhookSignatureError(.missing, "the SNS message has no \(name)") }
            return v
        }
        let type = try required("Type")
        let isNotification = type == "Notification"
        guard isNotification || type == "SubscriptionConfirmation" || type == "UnsubscribeConfirmation" else {
            throw WebhookSignatureError(.unsupported, "SNS message type \(JSONValue.quoted(type))")
        }
        return Envelope(
            type: type, messageId: try required("MessageId"), topicArn: try required("TopicArn"), subject: try text("Subject"),
            message: try required("Message"), timestamp: try required("Timestamp"), signatureVersion: try required("SignatureVersion"),
            signature: try required("Signature"), signingCertURL: try required("SigningCertURL"),
            subscribeURL: isNotification ? try text("SubscribeURL") : try required("SubscribeURL"),
            token: isNotification ? try text("Token") : try required("Token"))
    }

    /// Checks an envelope's signature with the signing certificate.
    ///
    /// - Parameters:
    ///   - envelope: the message (``envelope(body:)``).
    ///   - certificatePEM: the X.509 certificate from `SigningCertURL`, PEM (`-----BEGIN CERTIFICATE-----`).
    ///   - now: the current time, when `tolerance` is given.
    ///   - tolerance: refuse a `Timestamp` further than this from `now`, in seconds; `nil` (default): no check.
    /// - Throws: ``WebhookSignatureError``: `.unsupported` for a `SignatureVersion` other than 1 or 2,
    ///   `.malformed` for a certificate or signature not in the documented form, `.stale`, `.mismatch`.
    public static func verify(_ envelope: Envelope, certificatePEM: String, now: Instant? = nil, tolerance: Int64? = nil) throws(WebhookSignatureError) {
        let key = try publicKey(certificatePEM: certificatePEM)
        guard let raw = SignatureEncoding.base64(envelope.signature) else { throw WebhookSignatureError(.malformed, "the SNS Signature is not base64") }
        if let tolerance, let now {
            guard let t = Instant(rfc3339: envelope.timestamp) else {
                throw WebhookSignatureError(.malformed, "the SNS Timestamp \(JSONValue.quoted(envelope.timestamp)) is not RFC 3339")
            }
            let distance = abs(now.millisecondsSinceEpoch - t.millisecondsSinceEpoch) / 1000
            guard distance <= tolerance else {
                throw WebhookSignatureError(.stale, "the SNS Timestamp \(envelope.timestamp) is \(distance) s from now (tolerance \(tolerance) s)")
            }
        }
        let signed = Array(envelope.stringToSign.utf8)
        let signature = _RSA.Signing.RSASignature(rawRepresentation: raw)
        let valid: Bool
        switch envelope.signatureVersion {
        case "1": valid = key.isValidSignature(signature, for: Insecure.SHA1.hash(data: signed), padding: .insecurePKCS1v1_5)
        case "2": valid = key.isValidSignature(signature, for: SHA256.hash(data: signed), padding: .insecurePKCS1v1_5)
        default: throw WebhookSignatureError(.unsupported, "SNS SignatureVersion \(JSONValue.quoted(envelope.signatureVersion)) (1 and 2 are documented)")
        }
        guard valid else { throw WebhookSignatureError(.mismatch, "the SNS Signature does not match the message under the certificate's key") }
    }

    /// Checks that `certificatePEM` is an X.509 certificate holding an RSA key of at least 2048 bits
    /// (what SNS signs with), so that a service can refuse a wrong certificate file at start.
    /// - Throws: ``WebhookSignatureError`` `.malformed`.
    public static func checkCertificate(_ certificatePEM: String) throws(WebhookSignatureError) {
        _ = try publicKey(certificatePEM: certificatePEM)
    }

    static func publicKey(certificatePEM: String) throws(WebhookSignatureError) -> _RSA.Signing.PublicKey {
        let cert = try SignatureEncoding.derFromPEMOrBase64(certificatePEM, what: "the SNS signing certificate")
        guard let spki = DERCertificate.subjectPublicKeyInfo(cert) else {
            throw WebhookSignatureError(.malformed, "the SNS signing certificate is not an X.509 certificate (DER)")
        }
        do { return try _RSA.Signing.PublicKey(derRepresentation: spki) } catch {
            throw WebhookSignatureError(.malformed, "the SNS signing certificate holds no RSA public key of at least 2048 bits")
        }
    }

    /// Whether `url` may be fetched as an SNS signing certificate: `https`, a host
    /// `sns.<region>.amazonaws.com` (or `.amazonaws.com.cn`), a path ending in `.pem` — so that a
    /// forged message cannot point the endpoint at a certificate of the forger's choosing.
    public static func isAllowedCertificateURL(_ url: String) -> Bool {
        guard let u = snsURL(url) else { return false }
        return u.path.hasSuffix(".pem")
    }

    /// Whether a `SubscriptionConfirmation`'s `SubscribeURL` may be visited (GET) to confirm the
    /// subscription: `https`, an Amazon SNS host as for certificates, and the query's `Action` is
    /// `ConfirmSubscription` (the form SNS sends: Amazon SNS Developer Guide, "HTTP/HTTPS subscription
    /// confirmation JSON format") — so that a message cannot make the endpoint GET another URL.
    public static func isAllowedSubscribeURL(_ url: String) -> Bool {
        guard let u = snsURL(url) else { return false }
        return u.queryItems?.contains { $0.name == "Action" && $0.value == "ConfirmSubscription" } == true
    }

    /// `url` parsed when it is `https` (port 443), without user info, on a host `sns.<region>.amazonaws.com`
    /// or `sns.<region>.amazonaws.com.cn`.
    static func snsURL(_ url: String) -> URLComponents? {
        guard let u = URLComponents(string: url), u.scheme == "https", u.port == nil || u.port == 443, u.user == nil, u.password == nil,
              let host = u.host?.lowercased() else { return nil }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        let tail = labels.count == 4 ? Array(labels[2...]) : labels.count == 5 ? Array(labels[2...]) : []
        guard labels.first == "sns", labels.count >= 4, !labels[1].isEmpty,
              labels[1].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) else { return nil }
        return tail == ["amazonaws", "com"] || tail == ["amazonaws", "com", "cn"] ? u : nil
    }
}

/// Just enough DER (ITU-T X.690) to find an X.509 certificate's SubjectPublicKeyInfo (RFC 5280 §4.1)
/// (internal): `Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL,
/// serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, … }, … }`.
enum DERCertificate {
    /// The tag, content range and end of the DER element at `i`; `nil` when malformed.
    static func element(_ b: [UInt8], at i: Int, end: Int) -> (tag: UInt8, content: Range<Int>, next: Int)? {
        guard i + 2 <= end else { return nil }
        let tag = b[i]
        var length = Int(b[i + 1])
        var j = i + 2
        if length & 0x80 != 0 {
            let count = length & 0x7F
            guard count >= 1, count <= 4, j + count <= end else { return nil }
            length = 0
            for k in 0..<count { length = length << 8 | Int(b[j + k]) }
            j += count
        }
        guard length >= 0, j + length <= end else { return nil }
        return (tag, j..<(j + length), j + length)
    }

    /// The DER bytes (tag and length included) of the certificate's SubjectPublicKeyInfo.
    static func subjectPublicKeyInfo(_ der: [UInt8]) -> [UInt8]? {
        guard let cert = element(der, at: 0, end: der.count), cert.tag == 0x30,
              let tbs = element(der, at: cert.content.lowerBound, end: cert.content.upperBound), tbs.tag == 0x30 else { return nil }
        var i = tbs.content.lowerBound
        var fields: [(tag: UInt8, start: Int, next: Int)] = []
        while i < tbs.content.upperBound, fields.count < 8 {
            guard let e = element(der, at: i, end: tbs.content.upperBound) else { return nil }
            fields.append((e.tag, i, e.next))
            i = e.next
        }
        if fields.first?.tag == 0xA0 { fields.removeFirst() }  // [0] EXPLICIT version
        // serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo
        guard fields.count >= 6, fields[0].tag == 0x02, fields[5].tag == 0x30 else { return nil }
        return Array(der[fields[5].start..<fields[5].next])
    }
}
