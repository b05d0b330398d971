import Crypto
import DeliveryLedger

/// Verifies SendGrid's Signed Event Webhook: an ECDSA signature with curve P-256 and SHA-256 over
/// the bytes of the `X-Twilio-Email-Event-Webhook-Timestamp` header followed by the raw request body,
/// sent base64-encoded (DER `ECDSA-Sig-Value`) in `X-Twilio-Email-Event-Webhook-Signature`; the
/// verification key is the public key SendGrid shows when signing is enabled, base64 of its DER
/// SubjectPublicKeyInfo (Twilio SendGrid, "Getting Started with the Event Webhook Security
/// Features": "the payload is the timestamp concatenated with the raw request body").
///
/// Pure and HTTP-agnostic: the caller passes the two header values and the body bytes untouched (a
/// re-serialised body fails). The signed timestamp is refused when further than the tolerance from
/// `now` (a decision of the ledger: SendGrid signs it so that replays can be refused).
public enum SendGridSignature {
    /// The default tolerance between the signed timestamp and the current time: 300 s (5 minutes).
    public static let defaultTolerance: Int64 = 300

    /// Checks one request.
    ///
    /// - Parameters:
    ///   - body: the raw request body.
    ///   - signature: the `X-Twilio-Email-Event-Webhook-Signature` header (base64 DER).
    ///   - timestamp: the `X-Twilio-Email-Event-Webhook-Timestamp` header (epoch seconds).
    ///   - publicKey: the verification key: base64 of the DER SubjectPublicKeyInfo, or PEM.
    ///   - now: the current time (UTC).
    ///   - tolerance: the largest accepted distance between `timestamp` and `now`, in seconds.
    /// - Throws: ``WebhookSignatureError``: `.missing`, `.malformed` (key, signature or timestamp not
    ///   in the documented form), `.stale`, `.mismatch`.
    public static func verify(body: [UInt8], signature: String, timestamp: String, publicKey: String, now: Instant,
                              tolerance: Int64 = defaultTolerance) throws(WebhookSignatureError) {
        guard !signature.isEmpty, !timestamp.isEmpty else {
            throw WebhookSignatureError(.missing, "a signed SendGrid webhook needs the signature and timestamp headers")
        }
        let key = try self.key(publicKey)
        guard let signatureDER = SignatureEncoding.base64(signature) else {
            throw WebhookSignatureError(.malformed, "the SendGrid signature is not base64")
        }
        let ecdsa: P256.Signing.ECDSASignature
        do { ecdsa = try P256.Signing.ECDSASignature(derRepresentation: signatureDER) } catch {
            throw WebhookSignatureError(.malformed, "the SendGrid signature is not a DER ECDSA signature")
        }
        try SignatureEncoding.checkFresh(timestamp, now: now, tolerance: tolerance, what: "the SendGrid timestamp")
        guard key.isValidSignature(ecdsa, for: Array(timestamp.utf8) + body) else {
            throw WebhookSignatureError(.mismatch, "the SendGrid signature does not match timestamp + body under the verification key")
        }
    }

    /// Checks that `publicKey` is a verification key in a form SendGrid shows (base64 of the DER
    /// SubjectPublicKeyInfo of a P-256 key, or PEM), so that a service can refuse a wrong key at start.
    /// - Throws: ``WebhookSignatureError`` `.malformed`.
    public static func checkKey(_ publicKey: String) throws(WebhookSignatureError) {
        _ = try key(publicKey)
    }

    static func key(_ publicKey: String) throws(WebhookSignatureError) -> P256.Signing.PublicKey {
        let keyDER = try SignatureEncoding.derFromPEMOrBase64(publicKey, what: "the SendGrid verification key")
        do { return try P256.Signing.PublicKey(derRepresentation: keyDER) } catch {
            throw WebhookSignatureError(.malformed, "the SendGrid verification key is not a P-256 public key (DER SubjectPublicKeyInfo)")
        }
    }
}
