import _CryptoExtras
import Crypto
import DeliveryLedger
import Foundation
import LedgerTestSupport
import Testing
@testable import LedgerIngest

/// Webhook signatures, with vectors computed by the test from each provider's documented algorithm
/// and keys the test makes: a valid signature is accepted, one byte changed (body, signature or
/// signed field) is refused, and a stale timestamp is refused where the provider signs one.
@Suite("Provider webhooks: signatures")
struct WebhookSignatureTests {
    static let now = Instant(millisecondsSinceEpoch: 1_793_610_000_000)
    static let nowSeconds = String(1_793_610_000)

    static func flip(_ bytes: [UInt8], at i: Int) -> [UInt8] {
        var b = bytes
        b[i] ^= 0x01
        return b
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    // MARK: Mailgun: HMAC-SHA256(signing key, timestamp + token), hex

    static let signingKey = "key-test-made-0123456789abcdef"

    static func mailgunSignature(timestamp: String, token: String) -> String {
        hex(HMAC<SHA256>.authenticationCode(for: Array((timestamp + token).utf8), using: SymmetricKey(data: Array(signingKey.utf8))))
    }

    @Test("Mailgun: valid accepted; token, timestamp, signature or key changed refused; stale refused")
    func mailgun() throws {
        let token = "651869375b9df3c98fc15c4889b102119add1235c38fc92824"
        let good = Self.mailgunSignature(timestamp: Self.nowSeconds, token: token)
        try MailgunSignature.verify(timestamp: Self.nowSeconds, token: token, signature: good, signingKey: Self.signingKey, now: Self.now)
        func refused(_ reason: WebhookSignatureError.Reason, _ body: () throws(WebhookSignatureError) -> Void) {
            do { try body(); Issue.record("accepted") } catch { #expect(error.reason == reason, "\(error)") }
        }
        refused(.mismatch) { () throws(WebhookSignatureError) in
            try MailgunSignature.verify(timestamp: Self.nowSeconds, token: token + "x", signature: good, signingKey: Self.signingKey, now: Self.now)
        }
        refused(.mismatch) { () throws(WebhookSignatureError) in
            let oneByte = String(decoding: Self.flip(Array(good.utf8), at: 0).map { $0 == UInt8(ascii: "a") ? UInt8(ascii: "b") : $0 }, as: UTF8.self)
            let changed = oneByte == good ? "0" + good.dropFirst() : oneByte
            try MailgunSignature.verify(timestamp: Self.nowSeconds, token: token, signature: String(changed), signingKey: Self.signingKey, now: Self.now)
        }
        refused(.mismatch) { () throws(WebhookSignatureError) in
            try MailgunSignature.verify(timestamp: Self.nowSeconds, token: token, signature: good, signingKey: Self.signingKey + "!", now: Self.now)
        }
        // The timestamp is signed: 1 s later is another message.
        refused(.mismatch) { () throws(WebhookSignatureError) in
            try MailgunSignature.verify(timestamp: String(1_793_610_001), token: token, signature: good, signingKey: Self.signingKey, now: Self.now)
        }
        // A stale but correctly signed timestamp: 301 s old.
        let old = String(1_793_610_000 - 301)
        refused(.stale) { () throws(WebhookSignatureError) in
            try MailgunSignature.verify(timestamp: old, token: token, signature: Self.mailgunSignature(timestamp: old, token: token),
                                        signingKey: Self.signingKey, now: Self.now)
        }
        refused(.malformed) { () throws(WebhookSignatureError) in
            try MailgunSignature.verify(timestamp: Self.nowSeconds, token: token, signature: "zz", signingKey: Self.signingKey, now: Self.now)
        }
        refused(.missing) { () throws(WebhookSignatureError) in
            try MailgunSignature.verify(timestamp: Self.nowSeconds, token: "", signature: good, signingKey: Self.signingKey, now: Self.now)
        }
    }

    @Test("Mailgun: the signature inside a JSON body and a legacy form body")
    func mailgunBodies() throws {
        let token = "a3fe1fa1640349ac552b84ddde373014b4c41645830c8dd3fc"
        let sig = Self.mailgunSignature(timestamp: Self.nowSeconds, token: token)
        let json = #"{"signature":{"timestamp":"\#(Self.nowSeconds)","token":"\#(token)","signature":"\#(sig)"},"event-data":{"event":"delivered"}}"#
        try MailgunSignature.verify(body: Array(json.utf8), signingKey: Self.signingKey, now: Self.now)
        let form = "event=delivered&recipient=ann%40example.com&timestamp=\(Self.nowSeconds)&token=\(token)&signature=\(sig)"
        try MailgunSignature.verify(body: Array(form.utf8), signingKey: Self.signingKey, now: Self.now)
        #expect(throws: WebhookSignatureError.self) {
            try MailgunSignature.verify(body: Array(form.replacingOccurrences(of: "token=a3", with: "token=b3").utf8), signingKey: Self.signingKey, now: Self.now)
        }
    }

    /// Mailgun, "Securing Webhooks": a subaccount's event carries `parent-signature`, made with the
    /// primary account's key over the same timestamp + token; either key verifies the body.
    @Test("Mailgun: a subaccount's parent-signature verifies with the primary account's key")
    func mailgunParentSignature() throws {
        let token = "e0b5477167110d68991efc6b9f89f0a11066af27834600e123"
        let primary = "key-primary-account-0000000000"
        let parent = Self.hex(HMAC<SHA256>.authenticationCode(for: Array((Self.nowSeconds + token).utf8), using: SymmetricKey(data: Array(primary.utf8))))
        let own = Self.mailgunSignature(timestamp: Self.nowSeconds, token: token)
        let json = #"{"signature":{"timestamp":"\#(Self.nowSeconds)","token":"\#(token)","signature":"\#(own)","parent-signature":"\#(parent)"},"event-data":{"event":"delivered"}}"#
        let fields = try MailgunSignature.fields(body: Array(json.utf8))
        #expect(fields.signatures == [own, parent])
        try MailgunSignature.verify(body: Array(json.utf8), signingKey: Self.signingKey, now: Self.now)
        try MailgunSignature.verify(body: Array(json.utf8), signingKey: primary, now: Self.now)
        #expect(throws: WebhookSignatureError.self) {
            try MailgunSignature.verify(body: Array(json.utf8), signingKey: "key-someone-else", now: Self.now)
        }
    }

    @Test("Key checks: SendGrid P-256 and Postal RSA keys in their shown forms; anything else refused")
    func keyChecks() throws {
        try SendGridSignature.checkKey(P256.Signing.PrivateKey().publicKey.derRepresentation.base64EncodedString())
        try SendGridSignature.checkKey(P256.Signing.PrivateKey().publicKey.pemRepresentation)
        let rsa = try _RSA.Signing.PrivateKey(keySize: .bits2048).publicKey
        try PostalSignature.checkKey(rsa.derRepresentation.base64EncodedString())
        try SNSSignature.checkCertificate(Self.certificatePEM(rsa))
        #expect(throws: WebhookSignatureError.self) { try SendGridSignature.checkKey(rsa.derRepresentation.base64EncodedString()) }
        #expect(throws: WebhookSignatureError.self) { try PostalSignature.checkKey(P256.Signing.PrivateKey().publicKey.derRepresentation.base64EncodedString()) }
        #expect(throws: WebhookSignatureError.self) { try SNSSignature.checkCertificate(rsa.pemRepresentation) }
    }

    // MARK: SendGrid: ECDSA P-256 / SHA-256 over timestamp + body

    @Test("SendGrid: valid accepted (base64 DER and PEM keys); body, signature or timestamp changed refused; stale refused")
    func sendGrid() throws {
        let key = P256.Signing.PrivateKey()
        let publicKey = key.publicKey.derRepresentation.base64EncodedString()
        let body = try Corpus.bytes("other/anymail-sendgrid/bounce_event.json")
        func sign(_ timestamp: String, _ body: [UInt8]) throws -> String {
            try key.signature(for: Array(timestamp.utf8) + body).derRepresentation.base64EncodedString()
        }
        let good = try sign(Self.nowSeconds, body)
        try SendGridSignature.verify(body: body, signature: good, timestamp: Self.nowSeconds, publicKey: publicKey, now: Self.now)
        try SendGridSignature.verify(body: body, signature: good, timestamp: Self.nowSeconds, publicKey: key.publicKey.pemRepresentation, now: Self.now)
        let cases: [(WebhookSignatureError.Reason, () throws -> Void)] = [
            (.mismatch, { try SendGridSignature.verify(body: Self.flip(body, at: body.count / 2), signature: good, timestamp: Self.nowSeconds, publicKey: publicKey, now: Self.now) }),
            (.mismatch, { try SendGridSignature.verify(body: body, signature: good, timestamp: String(1_793_610_001), publicKey: publicKey, now: Self.now) }),
            (.mismatch, { try SendGridSignature.verify(body: body, signature: good, timestamp: Self.nowSeconds,
                                                       publicKey: P256.Signing.PrivateKey().publicKey.derRepresentation.base64EncodedString(), now: Self.now) }),
            (.malformed, { try SendGridSignature.verify(body: body, signature: "not base64!", timestamp: Self.nowSeconds, publicKey: publicKey, now: Self.now) }),
            (.stale, {
                let old = String(1_793_610_000 - 3600)
                try SendGridSignature.verify(body: body, signature: try sign(old, body), timestamp: old, publicKey: publicKey, now: Self.now)
            }),
        ]
        for (n, (reason, attempt)) in cases.enumerated() {
            do { try attempt(); Issue.record("case \(n) accepted") } catch let error as WebhookSignatureError {
                #expect(error.reason == reason, "case \(n): \(error)")
            }
        }
        // One byte of the signature itself changed: refused (as malformed DER or as a mismatch).
        var sigBytes = try #require(Data(base64Encoded: good).map(Array.init))
        sigBytes[sigBytes.count - 1] ^= 0x01
        #expect(throws: WebhookSignatureError.self) {
            try SendGridSignature.verify(body: body, signature: Data(sigBytes).base64EncodedString(), timestamp: Self.nowSeconds, publicKey: publicKey, now: Self.now)
        }
    }

    // MARK: Postal: RSA PKCS #1 v1.5 over the body (SHA-256 and SHA-1 headers)

    @Test("Postal: X-Postal-Signature-256 and X-Postal-Signature valid accepted; a body byte or signature byte changed refused", arguments: PostalSignature.Algorithm.allCases)
    func postal(_ algorithm: PostalSignature.Algorithm) throws {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let publicKey = key.publicKey.derRepresentation.base64EncodedString()
        let body = try Corpus.bytes("other/anymail-postal/delivered_event.json")
        func sign(_ b: [UInt8]) throws -> [UInt8] {
            switch algorithm {
            case .sha256: Array(try key.signature(for: SHA256.hash(data: b), padding: .insecurePKCS1v1_5).rawRepresentation)
            case .sha1: Array(try key.signature(for: Insecure.SHA1.hash(data: b), padding: .insecurePKCS1v1_5).rawRepresentation)
            }
        }
        let good = try sign(body)
        try PostalSignature.verify(body: body, signature: Data(good).base64EncodedString(), algorithm: algorithm, publicKey: publicKey)
        try PostalSignature.verify(body: body, signature: Data(good).base64EncodedString(), algorithm: algorithm, publicKey: key.publicKey.pemRepresentation)
        for attempt in [
            { try PostalSignature.verify(body: Self.flip(body, at: 10), signature: Data(good).base64EncodedString(), algorithm: algorithm, publicKey: publicKey) },
            { try PostalSignature.verify(body: body, signature: Data(Self.flip(good, at: 100)).base64EncodedString(), algorithm: algorithm, publicKey: publicKey) },
            // The other header's algorithm over the same body does not verify.
            { try PostalSignature.verify(body: body, signature: Data(good).base64EncodedString(), algorithm: algorithm == .sha1 ? .sha256 : .sha1, publicKey: publicKey) },
        ] as [() throws -> Void] {
            do { try attempt(); Issue.record("accepted") } catch let error as WebhookSignatureError { #expect(error.reason == .mismatch, "\(error)") }
        }
    }

    // MARK: Amazon SNS: SignatureVersion 1 (SHA1withRSA) and 2 (SHA256withRSA)

    /// A minimal X.509 certificate holding `publicKey`, as PEM (its own signature is not checked by
    /// the verifier: the endpoint trusts the certificate by where it fetched it).
    static func certificatePEM(_ publicKey: _RSA.Signing.PublicKey) -> String {
        TestCertificate.pem(subjectPublicKeyInfo: Array(publicKey.derRepresentation))
    }

    static func snsBody(_ fields: [String: String]) throws -> [UInt8] {
        Array(try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]))
    }

    @Test("SNS: a signed SES notification is accepted and ingested; a changed byte of Message refused; SubscriptionConfirmation's fields signed too",
          arguments: ["1", "2"])
    func sns(_ version: String) throws {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let pem = Self.certificatePEM(key.publicKey)
        let message = String(decoding: try Corpus.bytes("other/anymail-amazon-ses/bounce_event.ses-notification.json"), as: UTF8.self)
        var fields = [
            "Type": "Notification", "MessageId": "19ba9823-d7f2-53c1-860e-cb10e0d13dfc", "TopicArn": "arn:aws:sns:us-east-1:1234567890:SES_Events",
            "Subject": "Amazon SES Email Event Notification", "Message": message, "Timestamp": "2026-11-02T09:00:00.000Z",
            "SignatureVersion": version, "Signature": "",
            "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000.pem",
            "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
        ]
        func sign(_ fields: [String: String]) throws -> String {
            var unsigned = try SNSSignature.envelope(body: try Self.snsBody(fields.merging(["Signature": "x"]) { $1 }))
            unsigned.signature = ""
            let bytes = Array(unsigned.stringToSign.utf8)
            let s = version == "1" ? try key.signature(for: Insecure.SHA1.hash(data: bytes), padding: .insecurePKCS1v1_5)
                                   : try key.signature(for: SHA256.hash(data: bytes), padding: .insecurePKCS1v1_5)
            return Data(s.rawRepresentation).base64EncodedString()
        }
        fields["Signature"] = try sign(fields)
        let body = try Self.snsBody(fields)
        let envelope = try SNSSignature.envelope(body: body)
        // The documented string to sign for a Notification.
        #expect(envelope.stringToSign == "Message\n\(message)\nMessageId\n19ba9823-d7f2-53c1-860e-cb10e0d13dfc\nSubject\nAmazon SES Email Event Notification\nTimestamp\n2026-11-02T09:00:00.000Z\nTopicArn\narn:aws:sns:us-east-1:1234567890:SES_Events\nType\nNotification\n")
        try SNSSignature.verify(envelope, certificatePEM: pem)
        // Verified, the same body is ingested as SES.
        let parsed = try FeedReader.read(body, file: "sns.json", options: IngestOptions())
        #expect(parsed.format == .ses && parsed.events.count == 1 && parsed.events[0].qualification?.type == .hard)

        var tampered = envelope
        tampered.message = String(decoding: Self.flip(Array(message.utf8), at: message.utf8.count / 2), as: UTF8.self)
        do { try SNSSignature.verify(tampered, certificatePEM: pem); Issue.record("accepted") } catch { #expect(error.reason == .mismatch) }
        var otherVersion = envelope
        otherVersion.signatureVersion = version == "1" ? "2" : "1"
        do { try SNSSignature.verify(otherVersion, certificatePEM: pem); Issue.record("accepted") } catch { #expect(error.reason == .mismatch) }
        otherVersion.signatureVersion = "3"
        do { try SNSSignature.verify(otherVersion, certificatePEM: pem); Issue.record("accepted") } catch { #expect(error.reason == .unsupported) }
        let stranger = Self.certificatePEM(try _RSA.Signing.PrivateKey(keySize: .bits2048).publicKey)
        do { try SNSSignature.verify(envelope, certificatePEM: stranger); Issue.record("accepted") } catch { #expect(error.reason == .mismatch) }
        // Stale only when the caller asks for a tolerance.
        do {
            try SNSSignature.verify(envelope, certificatePEM: pem, now: Self.now.adding(seconds: 86_400), tolerance: 3600)
            Issue.record("accepted")
        } catch { #expect(error.reason == .stale) }

        // SubscriptionConfirmation: SubscribeURL and Token are signed.
        var confirmation = fields
        confirmation["Type"] = "SubscriptionConfirmation"
        confirmation["Subject"] = nil
        confirmation["SubscribeURL"] = "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=abc"
        confirmation["Token"] = "abc"
        confirmation["Message"] = "You have chosen to subscribe to the topic"
        confirmation["Signature"] = try sign(confirmation)
        let c = try SNSSignature.envelope(body: try Self.snsBody(confirmation))
        #expect(c.stringToSign.contains("SubscribeURL\nhttps://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=abc\n"))
        try SNSSignature.verify(c, certificatePEM: pem)
        var forged = c
        forged.subscribeURL = "https://evil.example/?Action=ConfirmSubscription"
        do { try SNSSignature.verify(forged, certificatePEM: pem); Issue.record("accepted") } catch { #expect(error.reason == .mismatch) }
        // Its ingest is counted as skipped (the endpoint confirms it).
        #expect(try FeedReader.read(try Self.snsBody(confirmation), file: "c.json", options: IngestOptions()).skipped == ["ses SNS SubscriptionConfirmation": 1])
    }

    @Test("SNS: only https certificate URLs on an SNS host are fetched")
    func certificateURLs() {
        #expect(SNSSignature.isAllowedCertificateURL("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-12345abcde.pem"))
        #expect(SNSSignature.isAllowedCertificateURL("https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-1.pem"))
        #expect(!SNSSignature.isAllowedCertificateURL("http://sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem"))
        #expect(!SNSSignature.isAllowedCertificateURL("https://sns.us-east-1.amazonaws.com.evil.example/x.pem"))
        #expect(!SNSSignature.isAllowedCertificateURL("https://evil.example/sns.us-east-1.amazonaws.com/x.pem"))
        #expect(!SNSSignature.isAllowedCertificateURL("https://sqs.us-east-1.amazonaws.com/x.pem"))
        #expect(!SNSSignature.isAllowedCertificateURL("https://sns.us-east-1.amazonaws.com/x.txt"))
        #expect(!SNSSignature.isAllowedCertificateURL("https://user@sns.us-east-1.amazonaws.com/x.pem"))
    }

    @Test("SNS: only https ConfirmSubscription URLs on an SNS host are visited")
    func subscribeURLs() {
        #expect(SNSSignature.isAllowedSubscribeURL("https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-west-2:123456789012:MyTopic&Token=2336412f37"))
        #expect(!SNSSignature.isAllowedSubscribeURL("https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x"))
        #expect(!SNSSignature.isAllowedSubscribeURL("http://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&Token=1"))
        #expect(!SNSSignature.isAllowedSubscribeURL("https://sns.us-west-2.amazonaws.com.evil.example/?Action=ConfirmSubscription&Token=1"))
        #expect(!SNSSignature.isAllowedSubscribeURL("https://sns.us-west-2.amazonaws.com:8443/?Action=ConfirmSubscription&Token=1"))
    }
}
