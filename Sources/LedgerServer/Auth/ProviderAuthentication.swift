import DeliveryLedger
import Foundation
import LedgerIngest

/// How the provider endpoints authenticate their senders: each provider's own signature scheme,
/// verified before anything of the body is decoded (the pure verifiers of `LedgerIngest`:
/// ``MailgunSignature``, ``SendGridSignature``, ``PostalSignature``, ``SNSSignature``). Postmark,
/// Brevo and Mailjet sign nothing and use the service's HTTP Basic credentials
/// (``ServerConfiguration/credentials``).
///
/// Several keys may be given for one provider: a request is accepted when one of them verifies it,
/// so that a key is rotated without a gap (add the new key, restart, switch the provider, remove the
/// old key). An endpoint whose provider has no key answers 503 `not_configured` (README "The
/// service": why 503).
public struct ProviderAuthentication: Sendable {
    /// Mailgun's HTTP webhook signing keys (Mailgun: *Sending → Webhooks → HTTP webhook signing key*),
    /// as text; the HMAC key is the text's UTF-8 bytes.
    public var mailgunSigningKeys: [String] = []
    /// SendGrid's Signed Event Webhook verification keys: base64 of the DER SubjectPublicKeyInfo of
    /// a P-256 key, as SendGrid shows it, or PEM.
    public var sendGridPublicKeys: [String] = []
    /// Postal's public keys: base64 of the DER SubjectPublicKeyInfo (the `p=` of Postal's
    /// `postal._domainkey` DNS record), or PEM.
    public var postalPublicKeys: [String] = []
    /// Amazon SNS (SES notifications).
    public var sns = SNSAuthentication()
    /// The largest accepted distance, in seconds, between Mailgun's signed `timestamp` and the
    /// current time: 9 hours by default. Mailgun retries a webhook for 8 hours (Mailgun, "Automatic
    /// Retries": 5 min, 10 min, 15 min, 1 h, 2 h, 4 h) and a retry carries the original signature
    /// block (Mailgun's documentation does not say; Hookdeck's Mailgun verification reference does),
    /// so a tighter window would refuse every retry after an outage and lose its events. A replay
    /// within the window appends nothing: the ledger's event-id index makes it a duplicate.
    public var mailgunMaximumAge: Int64 = 9 * 3600
    /// The same for SendGrid's `X-Twilio-Email-Event-Webhook-Timestamp`: 25 hours by default
    /// (SendGrid, "Troubleshooting the Event Webhook": "All events are retried at increasing
    /// intervals for up to 24 hours after the event occurs").
    public var sendGridMaximumAge: Int64 = 25 * 3600

    /// Creates an empty configuration: no key, SNS with Amazon's certificates and hosts.
    public init() {}

    /// Reads the keys of a key file or variable: PEM blocks (`-----BEGIN …-----` to `-----END …-----`)
    /// when the text holds any, else one key a line; blank lines and lines starting with `#` are
    /// ignored, surrounding white space dropped.
    ///
    /// - Parameters:
    ///   - text: the file's or variable's contents.
    ///   - source: where the text came from, named in errors (a path, `$LEDGER_MAILGUN_SIGNING_KEY`).
    /// - Returns: the keys, in order, at least one.
    /// - Throws: ``CredentialsError`` when there is no key or a PEM block has no END line.
    public static func keys(text: String, source: String) throws(CredentialsError) -> [String] {
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        var keys: [String] = []
        if lines.contains(where: { $0.hasPrefix("-----BEGIN") }) {
            var block: [String]?
            var start = 0
            for (n, line) in lines.enumerated() {
                if line.hasPrefix("-----BEGIN") { block = [line]; start = n + 1; continue }
                guard block != nil else { continue }
                block!.append(line)
                if line.hasPrefix("-----END") { keys.append(block!.joined(separator: "\n") + "\n"); block = nil }
            }
            if block != nil { throw CredentialsError(source: source, line: start, message: "a PEM block without its END line") }
        } else {
            keys = lines.filter { !$0.isEmpty && !$0.hasPrefix("#") }
        }
        guard !keys.isEmpty else { throw CredentialsError(source: source, line: nil, message: "no key") }
        return keys
    }

    /// Checks every configured key and certificate (so that a wrong one is refused at start, not at
    /// the first webhook).
    /// - Throws: ``CredentialsError`` naming the provider and the key's rank (1-based).
    public func validate() throws(CredentialsError) {
        func check(_ what: String, _ keys: [String], _ body: (String) throws(WebhookSignatureError) -> Void) throws(CredentialsError) {
            for (n, key) in keys.enumerated() {
                do { try body(key) } catch {
                    throw CredentialsError(source: what, line: nil, message: "key \(n + 1): \(error.message)")
                }
            }
        }
        try check("the Mailgun signing key", mailgunSigningKeys) { key throws(WebhookSignatureError) in
            if key.isEmpty { throw WebhookSignatureError(.missing, "empty") }
        }
        try check("the SendGrid verification key", sendGridPublicKeys, SendGridSignature.checkKey)
        try check("the Postal public key", postalPublicKeys, PostalSignature.checkKey)
        try check("the SNS certificate", sns.certificates, SNSSignature.checkCertificate)
    }
}

/// How the SES endpoint (`POST /webhooks/ses`) authenticates Amazon SNS messages.
///
/// Every message's signature is verified with the certificate at its `SigningCertURL`, fetched only
/// when the URL is allowed (``SNSSignature/isAllowedCertificateURL(_:)``: `https`,
/// `sns.<region>.amazonaws.com`, `.pem`) and cached by URL — or with ``certificates`` when given
/// (then nothing is fetched). A `SubscriptionConfirmation` is confirmed by the service (a GET of its
/// `SubscribeURL`, allowed by ``SNSSignature/isAllowedSubscribeURL(_:)``) only when its topic is one
/// of ``topicArns``; otherwise its URL is logged for the operator (README "Amazon SES").
public struct SNSAuthentication: Sendable {
    /// The topics whose messages are accepted (`--sns-topic-arn`); empty: every topic, and no
    /// subscription is confirmed by the service.
    public var topicArns: Set<String> = []
    /// Signing certificates (PEM, `--sns-certificate-file`): when given, messages are verified with
    /// these and no certificate is fetched.
    public var certificates: [String] = []
    /// How long a certificate fetch or a subscription confirmation may take: 10 s by default.
    public var fetchTimeout: Duration = .seconds(10)
    /// Which URLs may be fetched: Amazon's SNS hosts over `https` only. Tests replace it to serve
    /// their own certificate from a loopback server; the command line cannot.
    @_spi(Testing) public var urls = SNSURLPolicy.amazon

    /// Creates the default: any topic, certificates fetched from Amazon.
    public init() {}
}

/// Which URLs the SES endpoint may GET: signing certificates and subscription confirmations.
@_spi(Testing) public struct SNSURLPolicy: Sendable {
    /// Whether a `SigningCertURL` may be fetched.
    public var allowsCertificateURL: @Sendable (String) -> Bool
    /// Whether a `SubscribeURL` may be visited.
    public var allowsSubscribeURL: @Sendable (String) -> Bool

    /// Amazon's hosts over `https` (``SNSSignature/isAllowedCertificateURL(_:)``,
    /// ``SNSSignature/isAllowedSubscribeURL(_:)``).
    public static let amazon = SNSURLPolicy(allowsCertificateURL: SNSSignature.isAllowedCertificateURL,
                                            allowsSubscribeURL: SNSSignature.isAllowedSubscribeURL)

    /// A policy of the caller's (tests).
    public init(allowsCertificateURL: @escaping @Sendable (String) -> Bool, allowsSubscribeURL: @escaping @Sendable (String) -> Bool) {
        self.allowsCertificateURL = allowsCertificateURL
        self.allowsSubscribeURL = allowsSubscribeURL
    }
}
