import DeliveryLedger
import Foundation
import HTTPTypes
import LedgerIngest
import Logging

/// A refused request: the HTTP status, a stable reason (the answer's `reason` and the label of
/// `ledger_rejected_requests_total`), a message for people, and header fields to add.
struct Refusal: Error, Sendable {
    var status: HTTPResponse.Status
    var reason: String
    var message: String
    var headers: HTTPFields = [:]
}

/// What the authentication of a request with its body decided, when it did not refuse it.
enum Admission: Sendable {
    /// Authentic: decode and append the body.
    case accepted
    /// A verified SNS subscription message, handled here: nothing to decode or append.
    /// `state` is the answer's `subscription` (`confirmed`, `pending`, `unsubscribed`), `type` the
    /// SNS message type (counted as skipped).
    case subscription(state: String, type: String)
}

/// Each webhook endpoint's authentication (README "The service", per provider):
/// - HTTP Basic (``Credentials``) for SparkPost, `/events`, Postmark, Brevo, Mailjet — checked on the
///   request head, before the body is read;
/// - Mailgun: HMAC-SHA256 of the body's `timestamp` + `token` (``MailgunSignature``);
/// - SendGrid: ECDSA P-256 over `X-Twilio-Email-Event-Webhook-Timestamp` + body (``SendGridSignature``);
/// - Postal: RSA over the body, `X-Postal-Signature-256` preferred to `X-Postal-Signature` (``PostalSignature``);
/// - SES: the SNS message's signature with its signing certificate (``SNSSignature``, ``SNSClient``),
///   the topic restriction, and the subscription messages.
///
/// Signatures are checked on the raw body before anything is decoded or appended. A missing or bad
/// signature is 401 (`missing_signature`, `bad_signature`), a stale signed timestamp 401
/// (`stale_signature`), a topic not accepted 403 (`topic_not_allowed`), an endpoint whose key is not
/// configured 503 (`not_configured`).
struct WebhookAuthentication: Sendable {
    let configuration: ServerConfiguration
    let sns: SNSClient
    let work: BlockingWork
    /// The Mailgun tokens seen, with their bodies' digests.
    let mailgunTokens = MailgunTokens()
    /// The current time, for signed timestamps (the ledger's clock).
    let now: @Sendable () -> Instant

    static let basicChallenge: HTTPFields = [.wwwAuthenticate: "Basic realm=\"ledger\", charset=\"UTF-8\""]
    static let signatureChallenge: HTTPFields = [.wwwAuthenticate: "Signature realm=\"ledger\""]

    /// The checks that need only the head: HTTP Basic credentials, and whether the endpoint's
    /// authentication is configured at all.
    func checkHead(_ endpoint: WebhookEndpoint, headers: HTTPFields) -> Refusal? {
        if configuration.insecureNoAuthentication { return nil }
        let providers = configuration.providers
        if endpoint.usesBasicAuthentication {
            guard let credentials = configuration.credentials else {
                return notConfigured(endpoint, "no HTTP Basic credentials are configured (--credentials-file or $LEDGER_WEBHOOK_CREDENTIALS)")
            }
            guard credentials.accepts(authorization: headers[.authorization]) else {
                return Refusal(status: .unauthorized, reason: "unauthorized", message: "HTTP Basic credentials are missing or not accepted",
                               headers: Self.basicChallenge)
            }
            return nil
        }
        switch endpoint {
        case .mailgun where providers.mailgunSigningKeys.isEmpty:
            return notConfigured(endpoint, "no Mailgun signing key is configured (--mailgun-signing-key-file or $LEDGER_MAILGUN_SIGNING_KEY)")
        case .sendgrid where providers.sendGridPublicKeys.isEmpty:
            return notConfigured(endpoint, "no SendGrid verification key is configured (--sendgrid-public-key-file or $LEDGER_SENDGRID_PUBLIC_KEY)")
        case .postal where providers.postalPublicKeys.isEmpty:
            return notConfigured(endpoint, "no Postal public key is configured (--postal-public-key-file or $LEDGER_POSTAL_PUBLIC_KEY)")
        default:
            return nil
        }
    }

    private func notConfigured(_ endpoint: WebhookEndpoint, _ what: String) -> Refusal {
        Refusal(status: .serviceUnavailable, reason: "not_configured",
                message: "\(endpoint.path) is not configured: \(what); the sender's retries succeed once it is")
    }

    /// The checks of the body's signature (after ``checkHead(_:headers:)`` let the request in and the
    /// body was read whole).
    func checkBody(_ endpoint: WebhookEndpoint, headers: HTTPFields, body: [UInt8], logger: Logger) async -> Result<Admission, Refusal> {
        let providers = configuration.providers
        let insecure = configuration.insecureNoAuthentication
        let now = self.now()
        switch endpoint {
        case .ses:
            return await checkSNS(body: body, logger: logger)
        case _ where insecure:
            return .success(.accepted)
        case .mailgun:
            let verification = await verified { () throws(WebhookSignatureError) -> MailgunSignature.Fields in
                let fields = try MailgunSignature.fields(body: body)
                try Self.anyKey(providers.mailgunSigningKeys.flatMap { key in fields.signatures.map { (key, $0) } }) { pair throws(WebhookSignatureError) in
                    try MailgunSignature.verify(timestamp: fields.timestamp, token: fields.token, signature: pair.1, signingKey: pair.0,
                                                now: now, tolerance: providers.mailgunMaximumAge)
                }
                return fields
            }
            return verification.flatMap { fields in
                // Mailgun signs timestamp + token, not the body: a token comes with one body only.
                guard mailgunTokens.admit(token: fields.token, body: body) else {
                    return .failure(Refusal(status: .unauthorized, reason: "bad_signature",
                                            message: "this Mailgun signature (token \(fields.token)) came before with another body: a signature block reused on a changed body",
                                            headers: Self.signatureChallenge))
                }
                return .success(.accepted)
            }
        case .sendgrid:
            let signature = headers[HTTPField.Name("X-Twilio-Email-Event-Webhook-Signature")!] ?? ""
            let timestamp = headers[HTTPField.Name("X-Twilio-Email-Event-Webhook-Timestamp")!] ?? ""
            return await verified { () throws(WebhookSignatureError) in
                try Self.anyKey(providers.sendGridPublicKeys) { key throws(WebhookSignatureError) in
                    try SendGridSignature.verify(body: body, signature: signature, timestamp: timestamp, publicKey: key,
                                                 now: now, tolerance: providers.sendGridMaximumAge)
                }
            }
        case .postal:
            // X-Postal-Signature-256 when sent (no fall-back to SHA-1 when it fails: no downgrade).
            let algorithm: PostalSignature.Algorithm = headers[HTTPField.Name(PostalSignature.Algorithm.sha256.header)!] != nil ? .sha256 : .sha1
            let signature = headers[HTTPField.Name(algorithm.header)!] ?? ""
            return await verified { () throws(WebhookSignatureError) in
                try Self.anyKey(providers.postalPublicKeys) { key throws(WebhookSignatureError) in
                    try PostalSignature.verify(body: body, signature: signature, algorithm: algorithm, publicKey: key)
                }
            }
        default:
            return .success(.accepted)  // HTTP Basic, checked on the head
        }
    }

    /// Accepted when `check` passes for one of `keys`; else the error of the first key — a stale
    /// timestamp wins, as it is stale under every key.
    static func anyKey<Key>(_ keys: [Key], _ check: (Key) throws(WebhookSignatureError) -> Void) throws(WebhookSignatureError) {
        var first: WebhookSignatureError?
        for key in keys {
            do { try check(key); return } catch {
                if error.reason == .stale { throw error }
                first = first ?? error
            }
        }
        throw first ?? WebhookSignatureError(.missing, "no key configured")
    }

    /// Runs a verification off the cooperative pool (it hashes the whole body) and maps its error.
    private func verified(_ check: @escaping @Sendable () throws(WebhookSignatureError) -> Void) async -> Result<Admission, Refusal> {
        await verified { () throws(WebhookSignatureError) -> Bool in try check(); return true }.map { _ in .accepted }
    }

    private func verified<T: Sendable>(_ check: @escaping @Sendable () throws(WebhookSignatureError) -> T) async -> Result<T, Refusal> {
        do {
            return .success(try await work.compute { try check() })
        } catch let error as WebhookSignatureError {
            return .failure(Self.refusal(error))
        } catch {
            return .failure(Refusal(status: .unauthorized, reason: "bad_signature", message: "\(error)", headers: Self.signatureChallenge))
        }
    }

    /// 401 for a signature error: `stale_signature`, `missing_signature`, else `bad_signature`.
    static func refusal(_ error: WebhookSignatureError) -> Refusal {
        let reason = switch error.reason {
        case .stale: "stale_signature"
        case .missing: "missing_signature"
        case .malformed, .mismatch, .unsupported: "bad_signature"
        }
        return Refusal(status: .unauthorized, reason: reason, message: error.message, headers: signatureChallenge)
    }

    // MARK: Amazon SNS

    /// An SNS message: its signature with the signing certificate, its topic, and the subscription
    /// messages' handling (README "Amazon SES": when the service confirms a subscription itself).
    private func checkSNS(body: [UInt8], logger: Logger) async -> Result<Admission, Refusal> {
        let options = configuration.providers.sns
        let envelope: SNSSignature.Envelope
        do { envelope = try SNSSignature.envelope(body: body) } catch {
            // Without authentication, a bare SES notification is for the reader to judge.
            return configuration.insecureNoAuthentication ? .success(.accepted) : .failure(Self.refusal(error))
        }
        if !configuration.insecureNoAuthentication {
            let certificates: [String]
            if !options.certificates.isEmpty {
                certificates = options.certificates
            } else {
                guard options.urls.allowsCertificateURL(envelope.signingCertURL) else {
                    logger.notice("SNS SigningCertURL refused", metadata: ["url": "\(envelope.signingCertURL)", "topic": "\(envelope.topicArn)"])
                    return .failure(Refusal(status: .unauthorized, reason: "certificate_url_refused",
                                            message: "the SigningCertURL \(envelope.signingCertURL) is not an https URL of an Amazon SNS host (sns.<region>.amazonaws.com, a .pem path): not fetched",
                                            headers: Self.signatureChallenge))
                }
                do { certificates = [try await sns.certificate(at: envelope.signingCertURL)] } catch {
                    logger.warning("SNS signing certificate unavailable", metadata: ["error": "\(error)"])
                    return .failure(Refusal(status: .serviceUnavailable, reason: "certificate_unavailable",
                                            message: "the SNS signing certificate could not be fetched (\(error)); SNS retries the message"))
                }
            }
            let outcome = await verified { () throws(WebhookSignatureError) in
                try Self.anyKey(certificates) { pem throws(WebhookSignatureError) in try SNSSignature.verify(envelope, certificatePEM: pem) }
            }
            if case .failure = outcome { return outcome }
            if !options.topicArns.isEmpty && !options.topicArns.contains(envelope.topicArn) {
                return .failure(Refusal(status: .forbidden, reason: "topic_not_allowed",
                                        message: "the SNS topic \(envelope.topicArn) is not one of --sns-topic-arn"))
            }
        }
        switch envelope.type {
        case "SubscriptionConfirmation":
            let url = envelope.subscribeURL ?? ""
            let confirmable = !configuration.insecureNoAuthentication && !options.topicArns.isEmpty && options.urls.allowsSubscribeURL(url)
            guard confirmable else {
                logger.warning("SNS subscription awaits confirmation: visit its SubscribeURL to confirm it (or give --sns-topic-arn for the service to confirm it)",
                               metadata: ["topic": "\(envelope.topicArn)", "SubscribeURL": "\(url)"])
                return .success(.subscription(state: "pending", type: envelope.type))
            }
            do { try await sns.confirm(url) } catch {
                logger.warning("SNS subscription confirmation failed", metadata: ["topic": "\(envelope.topicArn)", "error": "\(error)"])
                return .failure(Refusal(status: .badGateway, reason: "subscription_confirmation_failed",
                                        message: "confirming the subscription to \(envelope.topicArn) failed (\(error)); SNS resends the confirmation"))
            }
            logger.notice("SNS subscription confirmed", metadata: ["topic": "\(envelope.topicArn)"])
            return .success(.subscription(state: "confirmed", type: envelope.type))
        case "UnsubscribeConfirmation":
            // Not visited: its SubscribeURL would subscribe the endpoint again.
            logger.notice("SNS subscription ended", metadata: ["topic": "\(envelope.topicArn)"])
            return .success(.subscription(state: "unsubscribed", type: envelope.type))
        default:
            return .success(.accepted)
        }
    }
}
