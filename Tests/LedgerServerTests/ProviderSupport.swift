import _CryptoExtras
import Crypto
import DeliveryLedger
import Foundation
import Hummingbird
import LedgerIngest
@_spi(Testing) import LedgerServer
import LedgerTestSupport
import Logging
import Synchronization

/// Keys the tests make, one set per process, and each provider's documented signing algorithm
/// applied with them (the provider's side of a webhook).
struct ProviderKeys: Sendable {
    static let shared = ProviderKeys()

    /// Mailgun's HTTP webhook signing key (text; the HMAC key is its UTF-8 bytes).
    let mailgun = "key-made-by-the-test-0123456789abcdef"
    // Kept as bytes (the key types are not Sendable); the keys are made once per process.
    private let sendGridKey = P256.Signing.PrivateKey().rawRepresentation
    private let postalKey = try! _RSA.Signing.PrivateKey(keySize: .bits2048).derRepresentation
    private let snsKey = try! _RSA.Signing.PrivateKey(keySize: .bits2048).derRepresentation
    var sendGrid: P256.Signing.PrivateKey { try! P256.Signing.PrivateKey(rawRepresentation: sendGridKey) }
    var postal: _RSA.Signing.PrivateKey { try! _RSA.Signing.PrivateKey(derRepresentation: postalKey) }
    var sns: _RSA.Signing.PrivateKey { try! _RSA.Signing.PrivateKey(derRepresentation: snsKey) }

    var snsCertificate: String { TestCertificate.pem(subjectPublicKeyInfo: Array(sns.publicKey.derRepresentation)) }

    /// A configuration with every provider's key (SNS: the URLs of `snsServer` allowed).
    func configure(_ c: inout ServerConfiguration, snsServer: Int? = nil, topics: Set<String> = []) {
        c.providers.mailgunSigningKeys = [mailgun]
        c.providers.sendGridPublicKeys = [sendGrid.publicKey.derRepresentation.base64EncodedString()]
        c.providers.postalPublicKeys = [postal.publicKey.derRepresentation.base64EncodedString()]
        c.providers.sns.topicArns = topics
        // Tests run side by side on 2 cores: a fetch may wait its turn for long.
        c.providers.sns.fetchTimeout = .seconds(60)
        if let snsServer {
            let prefix = "http://127.0.0.1:\(snsServer)/"
            c.providers.sns.urls = SNSURLPolicy(allowsCertificateURL: { $0.hasPrefix(prefix) && $0.hasSuffix(".pem") },
                                                allowsSubscribeURL: { $0.hasPrefix(prefix + "confirm?") })
        }
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970) }
    static func hex(_ bytes: some Sequence<UInt8>) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    // MARK: Mailgun ("Securing Webhooks"): hex HMAC-SHA256(signing key, timestamp + token)

    func mailgunSignature(timestamp: String, token: String, key: String? = nil) -> String {
        Self.hex(HMAC<SHA256>.authenticationCode(for: Array((timestamp + token).utf8), using: SymmetricKey(data: Array((key ?? mailgun).utf8))))
    }

    /// A JSON webhook: `{"signature": {…}, "event-data": eventData}` (eventData is JSON text).
    func mailgunJSON(eventData: String, timestamp: Int64 = now(), token: String = UUID().uuidString + "-0123456789abcd") -> [UInt8] {
        let t = String(timestamp)
        return Array(#"{"signature":{"timestamp":"\#(t)","token":"\#(token)","signature":"\#(mailgunSignature(timestamp: t, token: token))"},"event-data":\#(eventData)}"#.utf8)
    }

    /// A legacy form-encoded webhook: `fields` plus `timestamp`, `token`, `signature`.
    func mailgunForm(_ fields: [(String, String)], timestamp: Int64 = now(), token: String = UUID().uuidString + "-0123456789abcd") -> [UInt8] {
        let t = String(timestamp)
        let all = fields + [("timestamp", t), ("token", token), ("signature", mailgunSignature(timestamp: t, token: token))]
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return Array(all.map { "\($0.0.addingPercentEncoding(withAllowedCharacters: allowed)!)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed)!)" }
            .joined(separator: "&").utf8)
    }

    // MARK: SendGrid (Signed Event Webhook): base64 DER ECDSA P-256/SHA-256 of timestamp + body

    func sendGridHeaders(_ body: [UInt8], timestamp: Int64 = now(), key: P256.Signing.PrivateKey? = nil) throws -> [(String, String)] {
        let t = String(timestamp)
        let signature = try (key ?? sendGrid).signature(for: Array(t.utf8) + body).derRepresentation.base64EncodedString()
        return [("X-Twilio-Email-Event-Webhook-Signature", signature), ("X-Twilio-Email-Event-Webhook-Timestamp", t)]
    }

    // MARK: Postal: base64 RSA PKCS #1 v1.5 of the body, SHA-256 and SHA-1

    func postalSignature(_ body: [UInt8], sha1: Bool = false) throws -> String {
        let s = sha1 ? try postal.signature(for: Insecure.SHA1.hash(data: body), padding: .insecurePKCS1v1_5)
                     : try postal.signature(for: SHA256.hash(data: body), padding: .insecurePKCS1v1_5)
        return Data(s.rawRepresentation).base64EncodedString()
    }

    // MARK: Amazon SNS: SignatureVersion 2 (SHA256withRSA) over the documented string to sign

    /// An SNS message body with `fields`, signed (the string to sign is ``SNSSignature/Envelope/stringToSign``).
    func snsBody(_ fields: [String: String]) throws -> [UInt8] {
        var fields = fields
        fields["SignatureVersion"] = fields["SignatureVersion"] ?? "2"
        fields["Signature"] = "unsigned"
        let envelope = try SNSSignature.envelope(body: Array(try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])))
        let bytes = Array(envelope.stringToSign.utf8)
        let s = fields["SignatureVersion"] == "1" ? try sns.signature(for: Insecure.SHA1.hash(data: bytes), padding: .insecurePKCS1v1_5)
                                                  : try sns.signature(for: SHA256.hash(data: bytes), padding: .insecurePKCS1v1_5)
        fields["Signature"] = Data(s.rawRepresentation).base64EncodedString()
        return Array(try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]))
    }

    /// A Notification carrying `message` (an SES notification's JSON text).
    func snsNotification(message: String, topic: String, certificateURL: String) throws -> [UInt8] {
        try snsBody(["Type": "Notification", "MessageId": UUID().uuidString, "TopicArn": topic, "Message": message,
                     "Subject": "Amazon SES Email Event Notification", "Timestamp": "2026-11-02T09:00:00.000Z",
                     "SigningCertURL": certificateURL, "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe"])
    }

    /// A SubscriptionConfirmation or UnsubscribeConfirmation.
    func snsSubscription(type: String = "SubscriptionConfirmation", topic: String, certificateURL: String, subscribeURL: String) throws -> [UInt8] {
        try snsBody(["Type": type, "MessageId": UUID().uuidString, "TopicArn": topic, "Token": "2336412f37fb687f5d51e6e2",
                     "Message": "You have chosen to subscribe to the topic \(topic).\nTo confirm the subscription, visit the SubscribeURL included in this message.",
                     "SubscribeURL": subscribeURL, "Timestamp": "2026-11-02T09:00:00.000Z", "SigningCertURL": certificateURL])
    }

    /// A corpus SNS envelope (`*.sns-envelope.json`) signed again with the test's key, its
    /// SigningCertURL pointing at `certificateURL` (every other field as in the file, a TopicArn
    /// added where anymail left it out).
    func resign(envelope file: [UInt8], certificateURL: String) throws -> [UInt8] {
        guard let object = try JSONSerialization.jsonObject(with: Data(file)) as? [String: Any] else {
            throw LoopbackHTTP.Failure(description: "not an SNS envelope")
        }
        var fields = object.compactMapValues { $0 as? String }
        fields["SigningCertURL"] = certificateURL
        // anymail trimmed some samples to Type, MessageId, Timestamp, Message: the topic SNS always sends.
        fields["TopicArn"] = fields["TopicArn"] ?? "arn:aws:sns:us-east-1:1234567890:SES_Events"
        return try snsBody(fields)
    }
}

/// A loopback HTTP server standing for Amazon SNS: `GET /cert.pem` serves the test's signing
/// certificate, `GET /confirm?…` answers a subscription confirmation (500 with `fail=1`), `GET
/// /moved.pem` redirects to the certificate; it counts the requests of each path.
final class FakeSNS: Sendable {
    let port: Int
    private let task: Task<Void, any Error>
    private let hits = Hits()

    /// Requests counted by path.
    final class Hits: Sendable {
        private let counts = Mutex([String: Int]())
        func add(_ path: String) { counts.withLock { $0[path, default: 0] += 1 } }
        func count(_ path: String) -> Int { counts.withLock { $0[path, default: 0] } }
    }

    init(certificate: String) async throws {
        let router = Router()
        let hits = self.hits
        router.get("/cert.pem") { _, _ -> Response in
            hits.add("/cert.pem")
            return Response(status: .ok, headers: [.contentType: "application/x-pem-file"], body: .init(byteBuffer: ByteBuffer(string: certificate)))
        }
        router.get("/moved.pem") { _, _ -> Response in
            hits.add("/moved.pem")
            return Response(status: .found, headers: [.location: "/cert.pem"])
        }
        router.get("/confirm") { request, _ -> Response in
            let ok = request.uri.queryParameters["Action"] == "ConfirmSubscription"
            hits.add("/confirm")
            // `fail=1`: Amazon answering an error (an expired token).
            let status: HTTPResponse.Status = !ok ? .badRequest : request.uri.queryParameters["fail"] != nil ? .internalServerError : .ok
            return Response(status: status, body: .init(byteBuffer: ByteBuffer(string: "<ConfirmSubscriptionResponse/>")))
        }
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        var logger = Logger(label: "test.fake-sns")
        logger.logLevel = .critical
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: logger)
        task = Task { try await app.run() }
        var bound = 0
        for await p in ports { bound = p; break }
        port = bound
    }

    deinit { task.cancel() }

    var certificateURL: String { "http://127.0.0.1:\(port)/cert.pem" }
    var subscribeURL: String { "http://127.0.0.1:\(port)/confirm?Action=ConfirmSubscription&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A1234567890%3ASES_Events&Token=2336412f37fb687f5d51e6e2" }

    /// How many times `path` was requested.
    func count(_ path: String) -> Int { hits.count(path) }

    func stop() async {
        task.cancel()
        _ = try? await task.value
    }
}

/// The answers a test recorded, validated against the OpenAPI document at its end.
final class RecordedAnswers {
    var answers: [OpenAPIValidation.Answer] = []

    /// Sends a request to `server` and records its answer under the route `template`.
    @discardableResult
    func send(_ server: RunningServer, _ template: String, method: String = "POST", headers: [(String, String)] = [], body: [UInt8]? = nil) async throws -> LoopbackHTTP.Reply {
        let r = try await server.send(method, template, headers: headers, body: body)
        answers.append(.init(path: template, method: method, status: r.status, contentType: r.headers["content-type"] ?? "", body: r.text))
        return r
    }

    /// The validation errors of every recorded answer.
    func errors() throws -> [String] { try OpenAPIValidation.errors(answers) }
}

