import DeliveryLedger
import Foundation
import Testing
@testable import LedgerIngest

/// The shared SparkPost corpus (corpus/sparkpost/README.txt), read file by file. Expected values
/// are worked out from the mapping rules on `FeedReader` and the files' contents.
@Suite("SparkPost corpus")
struct SparkPostCorpusTests {
    static let readableFiles = [
        "sparkpost/anymail/amp_events.json",
        "sparkpost/anymail/bounce_challenge_response.json",
        "sparkpost/anymail/bounce_event.json",
        "sparkpost/anymail/click_event.json",
        "sparkpost/anymail/delay_event.json",
        "sparkpost/anymail/delivery_event.json",
        "sparkpost/anymail/generation_failure_event.json",
        "sparkpost/anymail/generation_rejection_event.json",
        "sparkpost/anymail/initial_open_event_as_opened.json",
        "sparkpost/anymail/initial_open_event_as_unknown.json",
        "sparkpost/anymail/injection_event.json",
        "sparkpost/anymail/open_event.json",
        "sparkpost/anymail/unsubscribe_event.json",
        "sparkpost/gosparkpost/webhook-batch-sample-events.json",
        "sparkpost/java-sparkpost/webhook-batch-captured-2017.json",
        "sparkpost/official-docs/webhook-events-samples-api.json",
    ]

    @Test("every corpus file reads without error, auto-detected as SparkPost", arguments: readableFiles)
    func readsWithoutError(path: String) throws {
        let parsed = try Corpus.read(path)
        #expect(parsed.format == .sparkpost)
        #expect(parsed.rejected.isEmpty)
        let bytes = try Corpus.bytes(path)
        for event in parsed.events {
            #expect(event.source == .sparkpost)
            #expect(event.raw.first == UInt8(ascii: "{") && event.raw.last == UInt8(ascii: "}"))
            #expect(bytes.contains(bytes: event.raw), "raw must be the element's untouched bytes")
            #expect(event.id.hasPrefix("sparkpost:"))
        }
    }

    @Test("the corpus folder covers every anymail payload except the expectations")
    func corpusListIsComplete() throws {
        let folder = Corpus.folder.appendingPathComponent("sparkpost/anymail")
        guard FileManager.default.fileExists(atPath: folder.path) else { throw Corpus.Missing(path: Corpus.folder.path) }
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".json") }
        let listed = Set(Self.readableFiles.map { ($0 as NSString).lastPathComponent })
        let expected = Set(names).subtracting(["expectations.anymail.json"])
        #expect(expected.isSubset(of: listed))
    }

    @Test("gosparkpost sample batch: 19 elements, 11 events, 8 skipped")
    func gosparkpostBatch() throws {
        let parsed = try Corpus.read("sparkpost/gosparkpost/webhook-batch-sample-events.json")
        #expect(parsed.events.map(\.kind) == [
            .bounce, .delivered, .relay, .complaint, .bounce, .bounce, .retry, .bounce, .bounce, .unsubscribe, .unsubscribe,
        ])
        #expect(parsed.skipped == [
            "sms_status": 1, "click": 1, "open": 1, "relay_injection": 1, "relay_rejection": 1,
            "relay_delivery": 1, "relay_tempfail": 1, "relay_permfail": 1,
        ])
        // One shared event_id: the type keeps the ids apart (domain.md §2).
        #expect(Set(parsed.events.map(\.id)).count == 11)
        for e in parsed.events {
            #expect(e.delivery == "Example Campaign Name")
            #expect(e.recipient == "recipient@example.com")
            #expect(e.occurredAt == at("2016-02-02T19:50:00Z"))  // 1454442600 as a JSON integer
        }

        // Element 0: bounce, class 1 (Undetermined) with a blocklist text: the class decides.
        let bounce = parsed.events[0]
        #expect(bounce.id == "sparkpost:bounce:92356927693813856")
        #expect(bounce.final && bounce.inBand == true && !bounce.beforeRelay)
        #expect(bounce.bounceClass == 1)
        #expect(bounce.smtpCode == 554)
        #expect(bounce.enhancedStatus == nil)  // "17.99.99.99" is an IP address, not a status code
        #expect(bounce.response == "MAIL REFUSED - IP (17.99.99.99) is in black list")
        #expect(bounce.qualification == Qualification(.notDefined, .notDefined))
        #expect(bounce.qualifier == BounceClassTable.version)
        #expect(bounce.attempt == 2)

        let outOfBand = parsed.events[4]
        #expect(outOfBand.id == "sparkpost:out_of_band:92356927693813856")
        #expect(outOfBand.kind == .bounce && outOfBand.inBand == false && outOfBand.final)

        // No bounce_class here: a policy rejection is SparkPost's Admin category → as class 25; its
        // text names the sending IP on a block list, the sender's failure (issue #14: class 25 covers
        // SparkPost's policies too) → the text rule decides: Refused, soft, not the address's.
        let policy = parsed.events[5]
        #expect(policy.id == "sparkpost:policy_rejection:92356927693813856")
        #expect(policy.beforeRelay && policy.final && policy.inBand == nil)
        #expect(policy.bounceClass == nil)
        #expect(policy.response?.contains("black list") == true)
        #expect(policy.qualification == Qualification(.soft, .refused))
        #expect(TextQualifier.builtIn.concerns(of: policy) == .sender)

        let delay = parsed.events[6]
        #expect(delay.kind == .retry && !delay.final && delay.attempt == 2)
        #expect(delay.qualification == Qualification(.notDefined, .notDefined))

        // gen_event group.
        #expect(parsed.events[7].id == "sparkpost:generation_failure:92356927693813856")
        #expect(parsed.events[7].beforeRelay)
        #expect(parsed.events[7].qualification == Qualification(.notDefined, .notDefined))  // a technical failure: codes only
        #expect(parsed.events[8].id == "sparkpost:generation_rejection:92356927693813856")
        #expect(parsed.events[8].beforeRelay)
        #expect(parsed.events[8].qualification == Qualification(.soft, .refused))  // same block-list text
        #expect(parsed.events[9].id == "sparkpost:list_unsubscribe:92356927693813856")
        #expect(parsed.events[10].id == "sparkpost:link_unsubscribe:92356927693813856")
    }

    @Test("official Events-API samples: flat results, ISO timestamps")
    func officialSamples() throws {
        let parsed = try Corpus.read("sparkpost/official-docs/webhook-events-samples-api.json")
        #expect(parsed.events.map(\.kind) == [
            .bounce, .delivered, .relay, .complaint, .bounce, .bounce, .retry, .bounce, .bounce, .unsubscribe, .unsubscribe,
        ])
        #expect(parsed.skipped == ["sms_status": 1, "click": 1, "open": 1, "initial_open": 1])
        for e in parsed.events {
            #expect(e.occurredAt == at("2016-04-18T14:25:07Z"))  // "2016-04-18T14:25:07.000+00:00"
            #expect(e.delivery == "Example Campaign Name")
        }
        // policy_rejection and generation_rejection carry class 25 (Admin Failure), here with the text
        // "MAIL REFUSED - IP (…) is in black list": the sender's failure → Refused, soft (issue #14).
        let policy = parsed.events[5]
        #expect(policy.beforeRelay && policy.bounceClass == 25)
        #expect(policy.qualification == Qualification(.soft, .refused))
        #expect(TextQualifier.builtIn.concerns(of: policy) == .sender)
        let genFailure = parsed.events[7]
        #expect(genFailure.id == "sparkpost:generation_failure:92356927693813856")
        #expect(genFailure.beforeRelay && genFailure.qualification == Qualification(.notDefined, .notDefined))
        let genRejection = parsed.events[8]
        #expect(genRejection.beforeRelay && genRejection.qualification == Qualification(.soft, .refused))
    }

    @Test("java-sparkpost captured batch: distinct ids, epoch strings, multi-line Gmail 550-5.1.1")
    func javaCapturedBatch() throws {
        let parsed = try Corpus.read("sparkpost/java-sparkpost/webhook-batch-captured-2017.json")
        #expect(parsed.events.map(\.kind) == [.delivered, .delivered, .relay, .relay, .bounce, .relay, .delivered])
        #expect(parsed.skipped == ["open": 3, "click": 1])
        #expect(parsed.events.allSatisfy { $0.delivery == "test" })
        let bounce = parsed.events[4]
        #expect(bounce.id == "sparkpost:bounce:48575267555968293")
        #expect(bounce.recipient == "as78df9as9d0f8as90df8a9s0df890asdf890asdf@example.com")
        #expect(bounce.occurredAt == at("2017-05-30T14:27:31Z"))  // "1496154451"
        #expect(bounce.smtpCode == 550)
        #expect(bounce.enhancedStatus == "5.1.1")
        #expect(bounce.bounceClass == 10)
        #expect(bounce.qualification == Qualification(.hard, .userUnknown))
        #expect(bounce.attempt == 0)
        #expect(bounce.response?.hasPrefix("550-5.1.1 The email account that you tried to reach does not exist.") == true)
        #expect(parsed.events[0].id == "sparkpost:delivery:120632847947746861")
        #expect(parsed.events[0].occurredAt == Instant(secondsSinceEpoch: 1_496_154_610))
    }

    @Test("anymail bounce: class 10 → hard, user unknown; delivery id from transmission_id")
    func anymailBounce() throws {
        let parsed = try Corpus.read("sparkpost/anymail/bounce_event.json")
        #expect(parsed.events.count == 1)
        let e = try #require(parsed.events.first)
        #expect(e.kind == .bounce && e.final && e.inBand == true)
        #expect(e.id == "sparkpost:bounce:84345317653491230")
        #expect(e.delivery == "84345317650824116")  // no campaign_id
        #expect(e.recipient == "bounce@example.com")
        #expect(e.occurredAt == at("2016-06-01T23:42:28Z"))  // "1464824548"
        #expect(e.smtpCode == 550)
        #expect(e.enhancedStatus == "5.1.1")
        #expect(e.response == "550 5.1.1 <bounce@example.com>: Recipient address rejected: User unknown")
        #expect(e.qualification == Qualification(.hard, .userUnknown))
        #expect(e.qualifier == "bounce-class-v1")
    }

    @Test("anymail delay: class 21 → retry, soft, invalid domain")
    func anymailDelay() throws {
        let e = try #require(try Corpus.read("sparkpost/anymail/delay_event.json").events.first)
        #expect(e.kind == .retry && !e.final)
        #expect(e.attempt == 1)
        #expect(e.smtpCode == 454 && e.enhancedStatus == "4.4.4")
        #expect(e.qualification == Qualification(.soft, .invalidDomain))
        #expect(e.recipient == "recipient@nomx.example.com")
        #expect(e.occurredAt == at("2016-06-02T00:02:28Z"))
        #expect(e.id == "sparkpost:delay:84345317653675522")
    }

    @Test("anymail generation_failure under message_event: bounce before relay, ISO timestamp")
    func anymailGenerationFailure() throws {
        let e = try #require(try Corpus.read("sparkpost/anymail/generation_failure_event.json").events.first)
        #expect(e.kind == .bounce && e.beforeRelay && e.final && e.inBand == nil)
        #expect(e.occurredAt == at("2018-10-11T23:24:45Z"))
        #expect(e.delivery == "139013368081177607")
        #expect(e.enhancedStatus == "5.3.3")
        #expect(e.qualification == Qualification(.notDefined, .notDefined))  // no class; 5.3.3 is not class 4
    }

    @Test("anymail generation_rejection under gen_event")
    func anymailGenerationRejection() throws {
        let e = try #require(try Corpus.read("sparkpost/anymail/generation_rejection_event.json").events.first)
        #expect(e.kind == .bounce && e.beforeRelay)
        #expect(e.enhancedStatus == "5.7.1")
        #expect(e.recipient == "suppressed@example.com")
        #expect(e.occurredAt == at("2016-06-02T20:40:34Z"))
        // "554 5.7.1 recipient address suppressed due to customer policy", no class: Admin (class 25).
        #expect(e.qualification == Qualification(.hard, .addressInQuarantine))
    }

    @Test("anymail injection, delivery, unsubscribe")
    func anymailOthers() throws {
        let injection = try #require(try Corpus.read("sparkpost/anymail/injection_event.json").events.first)
        #expect(injection.kind == .relay && injection.delivery == "Example Campaign Name")
        #expect(injection.occurredAt == at("2016-02-02T19:50:00Z"))
        #expect(injection.qualification == nil && injection.qualifier == nil)

        let delivery = try #require(try Corpus.read("sparkpost/anymail/delivery_event.json").events.first)
        #expect(delivery.kind == .delivered && delivery.delivery == "65832150921904138")
        // rcpt_to, not raw_rcpt_to "Recipient@example.com": every event of a message carries rcpt_to.
        #expect(delivery.recipient == "recipient@example.com")

        let unsubscribe = try #require(try Corpus.read("sparkpost/anymail/unsubscribe_event.json").events.first)
        #expect(unsubscribe.kind == .unsubscribe && unsubscribe.delivery == "84345993965073285")
        #expect(unsubscribe.occurredAt == at("2016-06-02T19:04:40Z"))
        #expect(unsubscribe.id == "sparkpost:list_unsubscribe:66331590532986193")
    }

    @Test("anymail engagement payloads are counted, not read")
    func anymailEngagement() throws {
        #expect(try Corpus.read("sparkpost/anymail/amp_events.json").skipped == ["amp_open": 1, "amp_initial_open": 1, "amp_click": 1])
        #expect(try Corpus.read("sparkpost/anymail/click_event.json").skipped == ["amp_click": 1])
        #expect(try Corpus.read("sparkpost/anymail/open_event.json").skipped == ["open": 1])
        #expect(try Corpus.read("sparkpost/anymail/initial_open_event_as_opened.json").skipped == ["initial_open": 1])
        #expect(try Corpus.read("sparkpost/anymail/initial_open_event_as_unknown.json").events.isEmpty)
    }

    /// anymail's `bounce_challenge_response` payload is trimmed: no timestamp, no campaign_id or
    /// transmission_id. An auto-reply never changes a status (domain.md §3) and this one cannot be
    /// placed in a delivery or in time, so it is counted as skipped (never an invented value, never a
    /// failed batch); the same element with those fields is an `autoReply`.
    @Test("anymail bounce_challenge_response: class 60 → autoReply; without delivery and time, skipped")
    func anymailChallengeResponse() throws {
        let bytes = try Corpus.bytes("sparkpost/anymail/bounce_challenge_response.json")
        let trimmed = try FeedReader.read(bytes, file: "bounce_challenge_response.json", options: IngestOptions())
        #expect(trimmed.events.isEmpty)
        #expect(trimmed.rejected.isEmpty)
        #expect(trimmed.skipped == ["autoReply without delivery or timestamp": 1])

        var text = String(decoding: bytes, as: UTF8.self)
        text = text.replacingOccurrences(of: "\"bounce_class\": \"60\",",
                                         with: "\"bounce_class\": \"60\", \"timestamp\": \"1464824548\", \"transmission_id\": \"T1\",")
        let parsed = try FeedReader.read(utf8(text), file: "x", options: IngestOptions())
        let e = try #require(parsed.events.first)
        #expect(e.kind == .autoReply)
        #expect(e.recipient == "vacationing@example.com")
        #expect(e.bounceClass == 60)
        #expect(e.qualification == nil)
        #expect(e.delivery == "T1")
        // No event_id: a content hash of the element's bytes.
        #expect(e.id.hasPrefix("sparkpost:bounce:sha256:"))
        #expect(e.id.count == "sparkpost:bounce:sha256:".count + 32)
    }
}
