import _CryptoExtras
import Crypto
import DeliveryLedger
import Foundation
import LedgerCLI
import LedgerIngest
@_spi(Testing) import LedgerServer
import LedgerTestSupport
import Testing

/// `POST /webhooks/{ses,sendgrid,mailgun,postmark,brevo,mailjet,postal}` over real HTTP on loopback
/// (issue #15): each provider's own authentication with keys the test makes and signatures computed
/// from the provider's documented algorithm; events and KPIs worked out by hand from each payload;
/// every answer validated against the OpenAPI document.
@Suite struct ProviderWebhookTests {
    static let keys = ProviderKeys.shared

    /// Mailgun, "Securing Webhooks": HMAC-SHA256 of timestamp + token. A Mailgun `failed` permanent
    /// event with a 5.1.1 text is a hard bounce, User unknown (the rule table); `delivered` is Sent;
    /// the delivery is the first tag. A retry (same body, same signature) is a duplicate; the same
    /// signature block on a changed body, a changed token, no signature, a stale timestamp: 401, nothing appended.
    @Test func mailgunSignedJSONAndLegacyForm() async throws {
        let server = try await RunningServer(configure: { Self.keys.configure(&$0) })
        let answers = RecordedAnswers()
        let failed = #"{"event":"failed","severity":"permanent","reason":"bounce","id":"mg-evt-1","recipient":"ann@example.com","timestamp":1793610000.5,"tags":["spring-sale"],"message":{"headers":{"message-id":"m1@example.org"}},"delivery-status":{"code":550,"message":"5.1.1 The email account that you tried to reach does not exist"}}"#
        let delivered = #"{"event":"delivered","id":"mg-evt-2","recipient":"bob@example.com","timestamp":1793610001.0,"tags":["spring-sale"],"message":{"headers":{"message-id":"m2@example.org"}},"delivery-status":{"code":250,"message":"OK"}}"#
        let token = "651869375b9df3c98fc15c4889b102119add1235c38fc92824"
        let body = Self.keys.mailgunJSON(eventData: failed, token: token)
        let ok = try await answers.send(server, "/webhooks/mailgun", headers: [("Content-Type", "application/json")], body: body)
        #expect(ok.status == 200, "\(ok.text)")
        #expect(ok.json?["appended"] as? Int == 1)
        #expect(try await answers.send(server, "/webhooks/mailgun", body: Self.keys.mailgunJSON(eventData: delivered)).status == 200)
        let ann = try #require(try server.ledger.status(delivery: "spring-sale", recipient: "ann@example.com", includeEvents: false))
        #expect(ann.classic.status == .failed && ann.classic.failureType == .hard && ann.classic.failureReason == .userUnknown)
        #expect(try server.ledger.status(delivery: "spring-sale", recipient: "bob@example.com", includeEvents: false)?.classic.status == .sent)
        let position = try server.position()
        #expect(position == 2)

        // Mailgun's retry: the same body and signature block.
        let retry = try await answers.send(server, "/webhooks/mailgun", body: body)
        #expect(retry.status == 200 && retry.json?["duplicates"] as? Int == 1, "\(retry.text)")
        // One byte of event-data changed under the same signature block: refused.
        var tampered = body
        let at = try #require(String(decoding: body, as: UTF8.self).range(of: "ann@")).lowerBound.utf16Offset(in: String(decoding: body, as: UTF8.self))
        tampered[at] = UInt8(ascii: "b")
        let changedBody = try await answers.send(server, "/webhooks/mailgun", body: tampered)
        #expect(changedBody.status == 401 && changedBody.json?["reason"] as? String == "bad_signature", "\(changedBody.text)")
        #expect(changedBody.headers["www-authenticate"] != nil)
        // One byte of the token changed: the HMAC no longer matches.
        let changedToken = Array(String(decoding: body, as: UTF8.self).replacingOccurrences(of: token, with: "7" + token.dropFirst()).utf8)
        #expect(try await answers.send(server, "/webhooks/mailgun", body: changedToken).json?["reason"] as? String == "bad_signature")
        // No signature at all.
        let unsigned = try await answers.send(server, "/webhooks/mailgun", body: Array(#"{"event-data":\#(failed)}"#.utf8))
        #expect(unsigned.status == 401 && unsigned.json?["reason"] as? String == "missing_signature", "\(unsigned.text)")
        // Correctly signed, but the timestamp is beyond the default 9 h (Mailgun's 8 h of retries + 1 h).
        let stale = try await answers.send(server, "/webhooks/mailgun", body: Self.keys.mailgunJSON(eventData: delivered, timestamp: ProviderKeys.now() - 9 * 3600 - 60))
        #expect(stale.status == 401 && stale.json?["reason"] as? String == "stale_signature", "\(stale.text)")
        // Another account's key.
        let t = String(ProviderKeys.now())
        let foreign = #"{"signature":{"timestamp":"\#(t)","token":"\#(token)x","signature":"\#(Self.keys.mailgunSignature(timestamp: t, token: token + "x", key: "key-other"))"},"event-data":\#(delivered)}"#
        #expect(try await answers.send(server, "/webhooks/mailgun", body: Array(foreign.utf8)).status == 401)
        #expect(try server.position() == position)

        // A legacy form-encoded webhook (`bounced`, its `timestamp` signed and the event's time).
        let form = Self.keys.mailgunForm([("event", "bounced"), ("recipient", "carl@example.com"), ("code", "550"),
                                          ("error", "550 5.1.1 <carl@example.com>: Recipient address rejected: User unknown"),
                                          ("X-Mailgun-Tag", "spring-sale"), ("Message-Id", "<m3@example.org>")])
        let legacy = try await answers.send(server, "/webhooks/mailgun", headers: [("Content-Type", "application/x-www-form-urlencoded")], body: form)
        #expect(legacy.status == 200 && legacy.json?["appended"] as? Int == 1, "\(legacy.text)")
        var legacyTampered = form
        legacyTampered[legacyTampered.count - 1] ^= 0x01  // the signature's last hex digit
        #expect(try await answers.send(server, "/webhooks/mailgun", body: legacyTampered).status == 401)
        let carl = try #require(try server.ledger.status(delivery: "spring-sale", recipient: "carl@example.com", includeEvents: false))
        #expect(carl.classic.status == .failed && carl.classic.failureType == .hard && carl.classic.failureReason == .userUnknown)
        // 3 recipients: ann and carl hard bounces, bob delivered.
        let kpis = try #require(try server.ledger.kpis(delivery: "spring-sale", semantics: .classic))
        #expect(kpis.toDeliver == 3 && kpis.success == 1 && kpis.failed == 2 && kpis.hardBounced == 2 && kpis.delivered == 1)
        #expect(try server.position() == 3)
        let errors = try answers.errors()
        #expect(errors.isEmpty, "\(errors)")
        await server.stop()
    }

    /// SendGrid's Signed Event Webhook: ECDSA P-256 over the timestamp header + raw body. A batch of
    /// processed + delivered for a@ and a 5.1.1 bounce for b@ (category `newsletter`): a Sent, b hard
    /// User unknown. One body byte changed, the headers missing, another key, a stale timestamp: 401.
    @Test func sendGridSignedBatch() async throws {
        let server = try await RunningServer(configure: { Self.keys.configure(&$0) })
        let answers = RecordedAnswers()
        let body = Array(#"""
            [{"email":"a@example.com","timestamp":1793610000,"event":"processed","sg_event_id":"sg1","sg_message_id":"msg-a.filter1","category":["newsletter"]},
             {"email":"a@example.com","timestamp":1793610005,"event":"delivered","sg_event_id":"sg2","sg_message_id":"msg-a.filter1","category":["newsletter"],"response":"250 OK"},
             {"email":"b@example.com","timestamp":1793610006,"event":"bounce","type":"bounce","status":"5.1.1","reason":"550 5.1.1 The email account that you tried to reach does not exist.","sg_event_id":"sg3","sg_message_id":"msg-b.filter1","category":["newsletter"]}]
            """#.utf8)
        let headers = try Self.keys.sendGridHeaders(body)
        let tampered = { var b = body; b[b.count / 2] ^= 0x01; return b }()
        let refused: [(String, [(String, String)], [UInt8], String)] = [
            ("a body byte changed", headers, tampered, "bad_signature"),
            ("no signature headers", [], body, "missing_signature"),
            ("another key", try Self.keys.sendGridHeaders(body, key: P256.Signing.PrivateKey()), body, "bad_signature"),
            // 26 h old: beyond the default 25 h (SendGrid retries for 24 h).
            ("stale", try Self.keys.sendGridHeaders(body, timestamp: ProviderKeys.now() - 26 * 3600), body, "stale_signature"),
        ]
        for (what, h, b, reason) in refused {
            let r = try await answers.send(server, "/webhooks/sendgrid", headers: h + [("Content-Type", "application/json")], body: b)
            #expect(r.status == 401 && r.json?["reason"] as? String == reason, "\(what): \(r.text)")
        }
        #expect(try server.position() == 0)
        let ok = try await answers.send(server, "/webhooks/sendgrid", headers: headers + [("Content-Type", "application/json")], body: body)
        #expect(ok.status == 200 && ok.json?["appended"] as? Int == 3, "\(ok.text)")
        #expect(try server.ledger.status(delivery: "newsletter", recipient: "a@example.com", includeEvents: false)?.classic.status == .sent)
        let b = try #require(try server.ledger.status(delivery: "newsletter", recipient: "b@example.com", includeEvents: false))
        #expect(b.efs.status == .failed && b.efs.failureType == .hard && b.efs.failureReason == .userUnknown)
        let kpis = try #require(try server.ledger.kpis(delivery: "newsletter", semantics: .efs))
        #expect(kpis.toDeliver == 2 && kpis.delivered == 1 && kpis.failed == 1 && kpis.hardBounced == 1 && kpis.relayed == 2)
        let errors = try answers.errors()
        #expect(errors.isEmpty, "\(errors)")
        await server.stop()
    }

    /// Postal: RSA over the raw body, `X-Postal-Signature-256` preferred, `X-Postal-Signature`
    /// (SHA-1) accepted alone. A HardFail with a "User unknown" output is a hard bounce; MessageSent
    /// is Sent; the delivery is the message's tag. A body byte changed: 401; a bad SHA-256 header is
    /// not rescued by a good SHA-1 one (no downgrade).
    @Test func postalSignedWebhooks() async throws {
        let server = try await RunningServer(configure: { Self.keys.configure(&$0) })
        let answers = RecordedAnswers()
        let failed = Array(#"{"event":"MessageDeliveryFailed","timestamp":1793610000.1,"uuid":"u-1","payload":{"message":{"id":1,"token":"t1","direction":"outgoing","message_id":"p1@example.com","to":"dan@example.com","from":"s@example.com","subject":"x","timestamp":1793610000.0,"spam_status":"NotChecked","tag":"welcome"},"status":"HardFail","details":"Permanent failure","output":"550 5.1.1 <dan@example.com>: Recipient address rejected: User unknown","sent_with_ssl":false,"timestamp":1793610000.2,"time":0.5}}"#.utf8)
        let sent = Array(#"{"event":"MessageSent","timestamp":1793610001.1,"uuid":"u-2","payload":{"message":{"id":2,"token":"t2","direction":"outgoing","message_id":"p2@example.com","to":"eve@example.com","from":"s@example.com","subject":"x","timestamp":1793610001.0,"spam_status":"NotChecked","tag":"welcome"},"status":"Sent","details":"Message for eve@example.com accepted","output":"250 2.0.0 OK","sent_with_ssl":true,"timestamp":1793610001.2,"time":0.3}}"#.utf8)
        let tampered = { var b = failed; b[20] ^= 0x01; return b }()
        let r1 = try await answers.send(server, "/webhooks/postal", headers: [("X-Postal-Signature-256", try Self.keys.postalSignature(failed))], body: tampered)
        #expect(r1.status == 401 && r1.json?["reason"] as? String == "bad_signature", "\(r1.text)")
        let downgrade = try await answers.send(server, "/webhooks/postal", headers: [("X-Postal-Signature-256", try Self.keys.postalSignature(sent, sha1: true)),
                                                                                      ("X-Postal-Signature", try Self.keys.postalSignature(sent, sha1: true))], body: sent)
        #expect(downgrade.status == 401, "\(downgrade.text)")
        #expect(try await answers.send(server, "/webhooks/postal", body: failed).json?["reason"] as? String == "missing_signature")
        #expect(try server.position() == 0)
        let ok = try await answers.send(server, "/webhooks/postal", headers: [("X-Postal-Signature-256", try Self.keys.postalSignature(failed)),
                                                                              ("X-Postal-Signature", try Self.keys.postalSignature(failed, sha1: true))], body: failed)
        #expect(ok.status == 200 && ok.json?["appended"] as? Int == 1, "\(ok.text)")
        let sha1 = try await answers.send(server, "/webhooks/postal", headers: [("X-Postal-Signature", try Self.keys.postalSignature(sent, sha1: true))], body: sent)
        #expect(sha1.status == 200 && sha1.json?["appended"] as? Int == 1, "\(sha1.text)")
        let dan = try #require(try server.ledger.status(delivery: "welcome", recipient: "dan@example.com", includeEvents: false))
        #expect(dan.classic.status == .failed && dan.classic.failureType == .hard && dan.classic.failureReason == .userUnknown)
        #expect(try server.ledger.status(delivery: "welcome", recipient: "eve@example.com", includeEvents: false)?.classic.status == .sent)
        let errors = try answers.errors()
        #expect(errors.isEmpty, "\(errors)")
        await server.stop()
    }

    /// Amazon SES through SNS, with a loopback server standing for Amazon (certificate and
    /// confirmation URLs allowed by the test's policy only): the subscription of an accepted topic is
    /// confirmed (one GET of its SubscribeURL); a signed notification is appended (SES's Permanent
    /// General bounce of jane@ with "5.1.1 … User unknown": hard, User unknown; the delivery is the SES
    /// message id); the certificate is fetched once for both (cached by URL); a changed Message byte
    /// is 401; a certificate URL on another host is 401 and not fetched; another topic is 403; an
    /// UnsubscribeConfirmation is acknowledged and its URL not visited.
    @Test func sesThroughSNS() async throws {
        let sns = try await FakeSNS(certificate: Self.keys.snsCertificate)
        let topic = "arn:aws:sns:us-east-1:1234567890:SES_Events"
        let server = try await RunningServer(configure: { Self.keys.configure(&$0, snsServer: sns.port, topics: [topic]) })
        let answers = RecordedAnswers()
        let headers = [("Content-Type", "text/plain; charset=UTF-8"), ("x-amz-sns-message-type", "Notification")]

        let confirmation = try Self.keys.snsSubscription(topic: topic, certificateURL: sns.certificateURL, subscribeURL: sns.subscribeURL)
        let confirmed = try await answers.send(server, "/webhooks/ses", headers: headers, body: confirmation)
        #expect(confirmed.status == 200 && confirmed.json?["subscription"] as? String == "confirmed", "\(confirmed.text)")
        #expect(sns.count("/confirm") == 1)
        // Amazon refuses the confirmation: 502, and SNS sends the confirmation again later.
        let refusedConfirmation = try Self.keys.snsSubscription(topic: topic, certificateURL: sns.certificateURL, subscribeURL: sns.subscribeURL + "&fail=1")
        let failedConfirmation = try await answers.send(server, "/webhooks/ses", headers: headers, body: refusedConfirmation)
        #expect(failedConfirmation.status == 502 && failedConfirmation.json?["reason"] as? String == "subscription_confirmation_failed", "\(failedConfirmation.text)")
        #expect(sns.count("/confirm") == 2)

        let message = String(decoding: try Fixtures.corpus("other/anymail-amazon-ses/bounce_event.ses-notification.json"), as: UTF8.self)
        let notification = try Self.keys.snsNotification(message: message, topic: topic, certificateURL: sns.certificateURL)
        let ok = try await answers.send(server, "/webhooks/ses", headers: headers, body: notification)
        #expect(ok.status == 200 && ok.json?["appended"] as? Int == 1, "\(ok.text)")
        #expect(sns.count("/cert.pem") == 1)
        let jane = try #require(try server.ledger.status(delivery: "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000",
                                                          recipient: "jane@example.com", includeEvents: false))
        #expect(jane.classic.status == .failed && jane.classic.failureType == .hard && jane.classic.failureReason == .userUnknown)

        // A byte of the signed Message changed: the signature no longer matches.
        let text = String(decoding: notification, as: UTF8.self)
        let tampered = Array(text.replacingOccurrences(of: "jane@example.com", with: "jane@examplf.com").utf8)
        #expect(tampered != notification)
        let bad = try await answers.send(server, "/webhooks/ses", headers: headers, body: tampered)
        #expect(bad.status == 401 && bad.json?["reason"] as? String == "bad_signature", "\(bad.text)")
        // A certificate URL on a host that is not allowed (here: Amazon's name as a subdomain of another host).
        for url in ["https://sns.us-east-1.amazonaws.com.evil.example/cert.pem", "http://127.0.0.2:\(sns.port)/cert.pem"] {
            let forged = try Self.keys.snsNotification(message: message, topic: topic, certificateURL: url)
            let refused = try await answers.send(server, "/webhooks/ses", headers: headers, body: forged)
            #expect(refused.status == 401 && refused.json?["reason"] as? String == "certificate_url_refused", "\(refused.text)")
        }
        // An allowed URL that redirects: not followed, so no certificate.
        let moved = try Self.keys.snsNotification(message: message, topic: topic, certificateURL: "http://127.0.0.1:\(sns.port)/moved.pem")
        let redirected = try await answers.send(server, "/webhooks/ses", headers: headers, body: moved)
        #expect(redirected.status == 503 && redirected.json?["reason"] as? String == "certificate_unavailable", "\(redirected.text)")
        // A verified message of another topic.
        let other = try Self.keys.snsNotification(message: message, topic: "arn:aws:sns:us-east-1:999999999999:Other", certificateURL: sns.certificateURL)
        let forbidden = try await answers.send(server, "/webhooks/ses", headers: headers, body: other)
        #expect(forbidden.status == 403 && forbidden.json?["reason"] as? String == "topic_not_allowed", "\(forbidden.text)")
        // A body that is not an SNS message (a bare SES notification): no signature.
        let bare = try await answers.send(server, "/webhooks/ses", headers: headers, body: Array(message.utf8))
        #expect(bare.status == 401, "\(bare.text)")
        #expect(try server.position() == 1)
        #expect(sns.count("/cert.pem") == 1)

        let unsubscribe = try Self.keys.snsSubscription(type: "UnsubscribeConfirmation", topic: topic, certificateURL: sns.certificateURL, subscribeURL: sns.subscribeURL)
        let ended = try await answers.send(server, "/webhooks/ses", headers: headers, body: unsubscribe)
        #expect(ended.status == 200 && ended.json?["subscription"] as? String == "unsubscribed", "\(ended.text)")
        #expect(sns.count("/confirm") == 2)
        let errors = try answers.errors()
        #expect(errors.isEmpty, "\(errors)")
        await server.stop()
        await sns.stop()
    }

    /// Without `--sns-topic-arn` the service never visits a SubscribeURL (it logs it: README "Amazon
    /// SES"), and the production policy refuses a loopback certificate URL: only Amazon's hosts.
    @Test func snsSubscriptionsAreLoggedWithoutTopicsAndProductionIsStrict() async throws {
        let sns = try await FakeSNS(certificate: Self.keys.snsCertificate)
        let topic = "arn:aws:sns:us-east-1:1234567890:SES_Events"
        let answers = RecordedAnswers()
        let open = try await RunningServer(configure: { Self.keys.configure(&$0, snsServer: sns.port) })
        let confirmation = try Self.keys.snsSubscription(topic: topic, certificateURL: sns.certificateURL, subscribeURL: sns.subscribeURL)
        let pending = try await answers.send(open, "/webhooks/ses", body: confirmation)
        #expect(pending.status == 200 && pending.json?["subscription"] as? String == "pending", "\(pending.text)")
        #expect(sns.count("/confirm") == 0 && sns.count("/cert.pem") == 1)
        await open.stop()

        let strict = try await RunningServer(configure: { Self.keys.configure(&$0) })
        let message = String(decoding: try Fixtures.corpus("other/anymail-amazon-ses/delivery_event.ses-notification.json"), as: UTF8.self)
        let r = try await answers.send(strict, "/webhooks/ses", body: try Self.keys.snsNotification(message: message, topic: topic, certificateURL: sns.certificateURL))
        #expect(r.status == 401 && r.json?["reason"] as? String == "certificate_url_refused", "\(r.text)")
        #expect(sns.count("/cert.pem") == 1)
        // With the certificate configured as a file, nothing is fetched.
        let filed = try await RunningServer(configure: { $0.providers.sns.certificates = [Self.keys.snsCertificate] })
        let f = try await answers.send(filed, "/webhooks/ses", body: try Self.keys.snsNotification(message: message, topic: topic, certificateURL: sns.certificateURL))
        #expect(f.status == 200 && f.json?["appended"] as? Int == 1, "\(f.text)")
        #expect(sns.count("/cert.pem") == 1)
        let errors = try answers.errors()
        #expect(errors.isEmpty, "\(errors)")
        await strict.stop()
        await filed.stop()
        await sns.stop()
    }

    /// Postmark, Brevo and Mailjet sign nothing: the service's HTTP Basic credentials, given in the
    /// webhook URL (`https://user:password@host/webhooks/NAME`), as for SparkPost.
    @Test(arguments: [("postmark", "other/anymail-postmark/delivered_event.json"), ("brevo", "other/anymail-brevo/delivered_event.json"),
                      ("mailjet", "other/anymail-mailjet/sent_event.json")])
    func basicAuthProviders(_ provider: String, _ file: String) async throws {
        let server = try await RunningServer()
        let answers = RecordedAnswers()
        let body = try Fixtures.corpus(file)
        for headers in [[], [LoopbackHTTP.basic("sparkpost", "wrong")], [("Authorization", "Bearer first-secret")]] {
            let r = try await answers.send(server, "/webhooks/\(provider)", headers: headers, body: body)
            #expect(r.status == 401 && r.headers["www-authenticate"]?.hasPrefix("Basic") == true, "\(r.text)")
        }
        #expect(try server.position() == 0)
        let ok = try await answers.send(server, "/webhooks/\(provider)", headers: [RunningServer.auth], body: body)
        #expect(ok.status == 200 && ok.json?["appended"] as? Int == 1, "\(ok.text)")
        let errors = try answers.errors()
        #expect(errors.isEmpty, "\(errors)")
        await server.stop()
    }

    /// Brevo's hard bounce POSTed to the Mailjet endpoint (both name their type `event`): nothing is
    /// recorded, the answer is still 200 (a provider's new type must not make it retry for hours) and
    /// says that no element is a complete Mailjet event; the answer is valid against the OpenAPI document.
    @Test func anotherProvidersEventsAreSkippedWithAWarning() async throws {
        let server = try await RunningServer()
        let answers = RecordedAnswers()
        let r = try await answers.send(server, "/webhooks/mailjet", headers: [RunningServer.auth],
                                       body: try Fixtures.corpus("other/anymail-brevo/hard_bounce.json"))
        #expect(r.status == 200 && r.json?["appended"] as? Int == 0, "\(r.text)")
        #expect(r.json?["skipped"] as? [String: Int] == ["mailjet hard_bounce": 1], "\(r.text)")
        #expect((r.json?["warning"] as? String)?.contains("no element is a complete mailjet event (skipped: mailjet hard_bounce)") == true, "\(r.text)")
        // Mailjet's own sent event: no warning.
        let own = try await answers.send(server, "/webhooks/mailjet", headers: [RunningServer.auth],
                                         body: try Fixtures.corpus("other/anymail-mailjet/sent_event.json"))
        #expect(own.status == 200 && own.json?["warning"] == nil, "\(own.text)")
        let errors = try answers.errors()
        #expect(errors.isEmpty, "\(errors)")
        await server.stop()
    }

    /// An endpoint whose key or credentials are not configured answers 503 `not_configured` (the
    /// sender retries; README: why 503), whatever the request; `--insecure-no-auth` checks nothing.
    @Test func unconfiguredEndpointsAnswer503() async throws {
        let answers = RecordedAnswers()
        let basicOnly = try await RunningServer()
        for provider in ["mailgun", "sendgrid", "postal"] {
            let r = try await answers.send(basicOnly, "/webhooks/\(provider)", headers: [RunningServer.auth], body: Array("{}".utf8))
            #expect(r.status == 503 && r.json?["reason"] as? String == "not_configured", "\(provider): \(r.text)")
        }
        await basicOnly.stop()
        let mailgunOnly = try await RunningServer(credentials: nil, configure: { $0.providers.mailgunSigningKeys = [Self.keys.mailgun] })
        let r = try await answers.send(mailgunOnly, "/webhooks/sparkpost", headers: [RunningServer.auth], body: try Fixtures.corpus("sparkpost/anymail/bounce_event.json"))
        #expect(r.status == 503 && r.json?["reason"] as? String == "not_configured", "\(r.text)")
        await mailgunOnly.stop()
        let insecure = try await RunningServer(credentials: nil, configure: { $0.insecureNoAuthentication = true })
        let unsigned = #"{"event-data":{"event":"delivered","id":"x1","recipient":"a@example.com","timestamp":1793610000,"tags":["t"]}}"#
        let accepted = try await answers.send(insecure, "/webhooks/mailgun", body: Array(unsigned.utf8))
        #expect(accepted.status == 200 && accepted.json?["appended"] as? Int == 1, "\(accepted.text)")
        let errors = try answers.errors()
        #expect(errors.isEmpty, "\(errors)")
        await insecure.stop()
    }

    /// `/metrics` counts refusals by reason, one name for one thing: `missing_signature`,
    /// `bad_signature`, `stale_signature`, `not_configured`; accepted batches by endpoint.
    @Test func metricsNameSignatureRefusals() async throws {
        let server = try await RunningServer(configure: {
            Self.keys.configure(&$0)
            $0.providers.postalPublicKeys = []
        })
        let body = Array("[]".utf8)
        _ = try await server.send("POST", "/webhooks/sendgrid", body: body)
        _ = try await server.send("POST", "/webhooks/sendgrid", headers: try Self.keys.sendGridHeaders(Array("[1]".utf8)), body: body)
        _ = try await server.send("POST", "/webhooks/sendgrid", headers: try Self.keys.sendGridHeaders(body, timestamp: 1_000_000_000), body: body)
        _ = try await server.send("POST", "/webhooks/postal", body: body)
        #expect(try await server.send("POST", "/webhooks/sendgrid", headers: try Self.keys.sendGridHeaders(body), body: body).status == 200)
        let text = try await server.send("GET", "/metrics").text
        func value(_ series: String) -> Double? {
            text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
        }
        for reason in ["missing_signature", "bad_signature", "stale_signature", "not_configured"] {
            #expect(value("ledger_rejected_requests_total{reason=\"\(reason)\"}") == 1, "\(reason)")
        }
        #expect(value("ledger_batches_total{format=\"sendgrid\"}") == 1)
        #expect(text.contains("ledger_request_duration_seconds_count{route=\"/webhooks/sendgrid\"}"))
        await server.stop()
    }
}

/// A provider's corpus payload POSTed (signed as the provider would) gives the same KPIs, under
/// both semantics, as `ledger ingest` of the same bytes.
@Suite struct ProviderCorpusOverHTTPTests {
    struct Payload: Sendable, CustomTestStringConvertible {
        var provider: String
        var file: String
        var testDescription: String { "\(provider) \(file)" }
    }

    static let payloads: [Payload] = [
        ("ses", ["bounce_event", "complaint_event", "delivery_event", "multiple_bounce_event"].map { "anymail-amazon-ses/\($0).sns-envelope.json" }),
        ("sendgrid", ["bounce_event", "deferred_event", "delivered_event", "dropped_bounced", "dropped_invalid_event", "processed_event"].map { "anymail-sendgrid/\($0).json" }),
        ("mailgun", ["failed_permanent_event", "failed_temporary_event", "delivered_event", "complained_event", "legacy_delivered_event", "legacy_dropped_bounce"].map { "anymail-mailgun/\($0).json" }),
        ("postmark", ["bounce_event", "delivered_event", "spam_event"].map { "anymail-postmark/\($0).json" }),
        ("brevo", ["hard_bounce", "soft_bounce_event", "delivered_event", "blocked", "deferred_event"].map { "anymail-brevo/\($0).json" }),
        ("mailjet", ["bounce_event", "sent_event", "blocked_event", "spam_event"].map { "anymail-mailjet/\($0).json" }),
        ("postal", ["bounce_event", "failed_event", "delivered_event", "deferred_event"].map { "anymail-postal/\($0).json" }),
    ].flatMap { provider, files in files.map { Payload(provider: provider, file: $0) } }

    @Test(arguments: payloads)
    func corpusPayloadGivesTheKPIsOfIngest(_ payload: Payload) async throws {
        let keys = ProviderKeys.shared
        let sns = try await FakeSNS(certificate: keys.snsCertificate)
        let server = try await RunningServer(configure: { keys.configure(&$0, snsServer: sns.port) })
        var body = try Fixtures.corpus("other/" + payload.file)
        var headers: [(String, String)] = []
        switch payload.provider {
        case "ses":
            body = try keys.resign(envelope: body, certificateURL: sns.certificateURL)
        case "sendgrid":
            headers = try keys.sendGridHeaders(body)
        case "postal":
            headers = [("X-Postal-Signature-256", try keys.postalSignature(body))]
        case "mailgun":
            let object = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
            if object["event-data"] != nil {
                // Today's webhook: the signature object added beside event-data (event-data's text unchanged).
                let text = String(decoding: body, as: UTF8.self)
                let start = try #require(text.range(of: "\"event-data\""))
                let eventData = String(text[start.upperBound...].drop { $0 == " " || $0 == ":" }).trimmingCharacters(in: .whitespacesAndNewlines).dropLast()
                body = keys.mailgunJSON(eventData: String(eventData))
            } else {
                // A legacy sample (fields shown as JSON): the form-encoded body Mailgun sent, signed.
                body = keys.mailgunForm(object.compactMap { k, v in (v as? String).map { (k, $0) } }.filter { !["timestamp", "token", "signature"].contains($0.0) }.sorted { $0.0 < $1.0 })
            }
        default:
            headers = [RunningServer.auth]
        }
        let reply = try await server.send("POST", "/webhooks/\(payload.provider)", headers: headers, body: body)
        #expect(reply.status == 200, "\(reply.text)")
        let answer = try #require(reply.json)

        let cli = TemporaryDirectory("ledger-ingest")
        let file = cli.path("payload")
        #expect(FileManager.default.createFile(atPath: file, contents: Data(body)))
        let arguments = ["ingest", "--db", cli.path("l"), "--format", payload.provider, "--allow-empty", file]
        let ingest = try await offPool { LedgerCLI.run(arguments) }
        #expect(ingest.exitCode == 0, "\(ingest.error)")
        let ingested = try Ledger(path: cli.path("l"))
        #expect(answer["appended"] as? Int == Int(try ingested.basis().position))
        #expect(try server.ledger.deliveries() == ingested.deliveries())
        for delivery in try ingested.deliveries() {
            for semantics in Semantics.allCases {
                #expect(try server.ledger.kpis(delivery: delivery, semantics: semantics) == ingested.kpis(delivery: delivery, semantics: semantics),
                        "\(payload.file) \(delivery) \(semantics)")
            }
        }
        await server.stop()
        await sns.stop()
    }
}
