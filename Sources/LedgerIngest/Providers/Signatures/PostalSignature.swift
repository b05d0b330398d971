import _CryptoExtras
import Crypto
import DeliveryLedger

/// Verifies Postal's webhook signatures: an RSA PKCS #1 v1.5 signature of the raw request body,
/// base64-encoded, made with the server's signing key — `X-Postal-Signature-256` with SHA-256, and the
/// older `X-Postal-Signature` with SHA-1 (Postal documentation, "Webhooks": the public key to verify
/// with is the one Postal publishes in its DNS record `postal._domainkey` / shows in the web UI, base64
/// of the DER SubjectPublicKeyInfo).
///
/// Pure and HTTP-agnostic: the caller passes the header's value, which header it was, and the body's
/// bytes untouched. Postal signs no timestamp, so there is nothing to be stale.
public enum PostalSignature {
    /// Which header carried the signature, i.e. which digest was signed.
    public enum Algorithm: String, Sendable, Hashable, CaseIterable {
        /// `X-Postal-Signature-256`: RSA with SHA-256.
        case sha256
        /// `X-Postal-Signature`: RSA with SHA-1 (Postal's original header).
        case sha1

        /// The HTTP header that carries a signature of this algorithm.
        public var header: String { self == .sha256 ? "X-Postal-Signature-256" : "X-Postal-Signature" }
    }

    /// Checks one request.
    ///
    /// - Parameters:
    ///   - body: the raw request body.
    ///   - signature: the header's value (base64 of the RSA signature).
    ///   - algorithm: which header it came from (prefer ``Algorithm/sha256`` when both are sent).
    ///   - publicKey: Postal's public key: base64 of the DER SubjectPublicKeyInfo (as in its DNS
    ///     record's `p=`), or PEM.
    /// - Throws: ``WebhookSignatureError``: `.missing`, `.malformed`, `.mismatch`.
    public static func verify(body: [UInt8], signature: String, algorithm: Algorithm = .sha256, publicKey: String) throws(WebhookSignatureError) {
        guard !signature.isEmpty else { throw WebhookSignatureError(.missing, "no \(algorithm.header) header") }
        let key = try RSAKeys.publicKey(publicKey, what: "the Postal public key")
        guard let raw = SignatureEncoding.base64(signature) else { throw WebhookSignatureError(.malformed, "the \(algorithm.header) value is not base64") }
        let rsa = _RSA.Signing.RSASignature(rawRepresentation: raw)
        let valid = switch algorithm {
        case .sha256: key.isValidSignature(rsa, for: SHA256.hash(data: body), padding: .insecurePKCS1v1_5)
        case .sha1: key.isValidSignature(rsa, for: Insecure.SHA1.hash(data: body), padding: .insecurePKCS1v1_5)
        }
        guard valid else { throw WebhookSignatureError(.mismatch, "the \(algorithm.header) signature does not match the body under Postal's key") }
    }

    /// Checks that `publicKey` is an RSA public key in a form Postal shows (base64 of the DER
    /// SubjectPublicKeyInfo, as in its DNS record's `p=`, or PEM), so that a service can refuse a
    /// wrong key at start.
    /// - Throws: ``WebhookSignatureError`` `.malformed`.
    public static func checkKey(_ publicKey: String) throws(WebhookSignatureError) {
        _ = try RSAKeys.publicKey(publicKey, what: "the Postal public key")
    }
}

/// RSA public keys from their usual textual forms (internal).
enum RSAKeys {
    /// A key from PEM (`PUBLIC KEY`, `RSA PUBLIC KEY`) or bare base64 of the DER SubjectPublicKeyInfo.
    static func publicKey(_ text: String, what: String) throws(WebhookSignatureError) -> _RSA.Signing.PublicKey {
        let der = try SignatureEncoding.derFromPEMOrBase64(text, what: what)
        do { return try _RSA.Signing.PublicKey(derRepresentation: der) } catch {
            throw WebhookSignatureError(.malformed, "\(what) is not an RSA public key of at least 2048 bits (DER SubjectPublicKeyInfo)")
        }
    }
}
