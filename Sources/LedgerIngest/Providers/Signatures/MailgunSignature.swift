import Crypto
import DeliveryLedger

/// Verifies Mailgun webhook signatures: HMAC-SHA256, keyed with the account's HTTP webhook signing
/// key, over the concatenation of `timestamp` and `token`, given as lower-case hex in `signature`
/// (Mailgun documentation, "Securing webhooks": "concatenate timestamp and token values, encode the
/// resulting string with the HMAC algorithm (using your Webhook Signing Key as a key and SHA256
/// digest mode) and compare the resulting hexdigest to the signature"; also: "check that the
/// timestamp is not too far from the current time" and cache tokens to refuse replays — the token
/// cache belongs to the endpoint).
///
/// Pure: no clock, no I/O; the caller gives the current time. HTTP-agnostic: the three values come
/// from the JSON body's `signature` object (today's webhooks) or the form fields of the legacy ones
/// (``verify(body:signingKey:now:tolerance:)`` finds them).
public enum MailgunSignature {
    /// The default tolerance between the signed timestamp and the current time: 300 s (5 minutes).
    public static let defaultTolerance: Int64 = 300

    /// Checks one signature.
    ///
    /// - Parameters:
    ///   - timestamp: the signed epoch seconds (decimal text, as Mailgun sends it).
    ///   - token: the random token Mailgun generated (50 characters).
    ///   - signature: the hex HMAC-SHA256 digest Mailgun sent.
    ///   - signingKey: the HTTP webhook signing key (UTF-8 text, used as the HMAC key's bytes).
    ///   - now: the current time (UTC).
    ///   - tolerance: the largest accepted distance between `timestamp` and `now`, in seconds.
    /// - Throws: ``WebhookSignatureError``: `.missing` for an empty value, `.malformed` for a signature
    ///   that is not hex or a timestamp that is not epoch seconds, `.stale` beyond the tolerance,
    ///   `.mismatch` when the digest differs (compared in constant time by swift-crypto's
    ///   `HMAC.isValidAuthenticationCode`).
    public static func verify(timestamp: String, token: String, signature: String, signingKey: String, now: Instant,
                              tolerance: Int64 = defaultTolerance) throws(WebhookSignatureError) {
        guard !signingKey.isEmpty else { throw WebhookSignatureError(.missing, "no Mailgun signing key configured") }
        guard !timestamp.isEmpty, !token.isEmpty, !signature.isEmpty else {
            throw WebhookSignatureError(.missing, "a Mailgun webhook needs timestamp, token and signature")
        }
        guard let mac = SignatureEncoding.hex(signature), mac.count == SHA256.byteCount else {
            throw WebhookSignatureError(.malformed, "the Mailgun signature is not a hex SHA-256 digest")
        }
        try SignatureEncoding.checkFresh(timestamp, now: now, tolerance: tolerance, what: "the Mailgun timestamp")
        let key = SymmetricKey(data: Array(signingKey.utf8))
        guard HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: Array((timestamp + token).utf8), using: key) else {
            throw WebhookSignatureError(.mismatch, "the Mailgun signature does not match timestamp + token under the signing key")
        }
    }

    /// The signed values of a webhook body: the `signature` object of today's JSON webhooks
    /// (`{"signature": {"timestamp", "token", "signature", "parent-signature"?}, "event-data": …}`),
    /// or the `timestamp`, `token`, `signature` fields of a legacy body (form-encoded, or the same
    /// fields as a JSON object).
    public struct Fields: Sendable, Hashable {
        /// The signed epoch seconds (decimal text).
        public var timestamp: String
        /// The random token.
        public var token: String
        /// The hex signatures to try, in order: `signature`, then `parent-signature` when present
        /// (Mailgun, "Securing Webhooks": events of a subaccount's domain also carry a
        /// `parent-signature`, made with the primary account's key, so that one key verifies the
        /// webhooks of every subaccount).
        public var signatures: [String]
    }

    /// Reads the signed values from a webhook body (see ``Fields``); absent values are empty.
    ///
    /// - Throws: ``WebhookSignatureError`` `.malformed` when the body is neither a JSON object nor a
    ///   form body.
    public static func fields(body: [UInt8]) throws(WebhookSignatureError) -> Fields {
        var bytes = body
        var i = 0
        while i < bytes.count, JSONSyntax.isWhitespace(bytes[i]) { i += 1 }
        if i < bytes.count, bytes[i] != UInt8(ascii: "{") {
            do { bytes = try FormBody.jsonObject(Array(bytes[i...]), file: "body", offset: i) } catch {
                throw WebhookSignatureError(.malformed, "the Mailgun body is neither JSON nor form-encoded: \(error.message)")
            }
        }
        let doc: JSONDocument
        do { doc = try JSONDocument(validating: bytes[...], options: .records) } catch {
            throw WebhookSignatureError(.malformed, "the Mailgun body is not JSON: \(error.message) (byte \(error.offset))")
        }
        guard var members = doc.members(doc.root) else { throw WebhookSignatureError(.malformed, "the Mailgun body is not a JSON object") }
        if let nested = members.first(where: { doc.nameIs($0, "signature") }), let inner = doc.members(nested.value) {
            members = inner
        }
        func text(_ name: String) -> String {
            guard let m = members.first(where: { doc.nameIs($0, name) }) else { return "" }
            switch doc.value(m.value) {
            case .string(let s): return s
            case .int(let n): return String(n)
            default: return ""
            }
        }
        let parent = text("parent-signature")
        return Fields(timestamp: text("timestamp"), token: text("token"), signatures: [text("signature")] + (parent.isEmpty ? [] : [parent]))
    }

    /// Checks the signature carried in a webhook body (``fields(body:)``): accepted when `signature`
    /// or, for a subaccount's event, `parent-signature` matches under `signingKey`.
    ///
    /// - Throws: ``WebhookSignatureError`` as ``verify(timestamp:token:signature:signingKey:now:tolerance:)``
    ///   (the error of `signature` when neither matches); `.malformed` when the body is neither JSON
    ///   nor a form body, `.missing` without the fields.
    public static func verify(body: [UInt8], signingKey: String, now: Instant, tolerance: Int64 = defaultTolerance) throws(WebhookSignatureError) {
        let f = try fields(body: body)
        var first: WebhookSignatureError?
        for signature in f.signatures {
            do {
                try verify(timestamp: f.timestamp, token: f.token, signature: signature, signingKey: signingKey, now: now, tolerance: tolerance)
                return
            } catch {
                first = first ?? error
            }
        }
        throw first ?? WebhookSignatureError(.missing, "a Mailgun webhook needs timestamp, token and signature")
    }
}
