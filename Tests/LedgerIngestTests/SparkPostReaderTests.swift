import DeliveryLedger
import Testing
@testable import LedgerIngest

/// A webhook element `{"msys":{"message_event":{…}}}` with the given members (JSON text after the type).
func msys(_ type: String, _ members: String = "", group: String = "message_event") -> String {
    let base = #""type":"\#(type)","event_id":"E-\#(type)","campaign_id":"C1","rcpt_to":"User@Example.COM","timestamp":"1454442600""#
    return #"{"msys":{"\#(group)":{\#(base)\#(members.isEmpty ? "" : "," + members)}}}"#
}

@Suite("SparkPost reader")
struct SparkPostReaderTests {
    func read(_ text: String, options: IngestOptions = IngestOptions(format: .sparkpost)) throws -> ParsedInput {
        try FeedReader.read(utf8(text), file: "events.json", options: options)
    }

    @Test("common fields: delivery id, normalised recipient, epoch-string timestamp, id from type and event_id")
    func commonFields() throws {
        let e = try #require(try read("[" + msys("delivery", #""num_retries":"3""#) + "]").events.first)
        #expect(e.kind == .delivered)
        #expect(e.id == "sparkpost:delivery:E-delivery")
        #expect(e.delivery == "C1")
        #expect(e.recipient == "User@example.com")  // domain lower-cased, local part kept
        #expect(e.occurredAt == at("2016-02-02T19:50:00Z"))
        #expect(e.attempt == 3)
        #expect(e.source == .sparkpost)
    }

    @Test("timestamps: integer, float, digit string, milliseconds, RFC 3339 with Z or offset")
    func timestamps() throws {
        let cases: [(String, Instant)] = [
            ("1454442600", at("2016-02-02T19:50:00Z")),
            ("1454442600.25", at("2016-02-02T19:50:00.250Z")),
            (#""1454442600""#, at("2016-02-02T19:50:00Z")),
            (#""1454442600.123""#, at("2016-02-02T19:50:00.123Z")),
            ("1454442600123", at("2016-02-02T19:50:00.123Z")),
            (#""2016-04-18T14:25:07.000+00:00""#, at("2016-04-18T14:25:07Z")),
            (#""2016-04-18T16:25:07+02:00""#, at("2016-04-18T14:25:07Z")),
            (#""2018-10-11T23:24:45.000Z""#, at("2018-10-11T23:24:45Z")),
        ]
        for (json, expected) in cases {
            let text = #"[{"type":"injection","campaign_id":"C","rcpt_to":"a@b.example","timestamp":\#(json)}]"#
            #expect(try read(text).events.first?.occurredAt == expected, "timestamp \(json)")
        }
    }

    @Test("bounce class effects on bounce: auto-reply, unsubscribe, subscribe")
    func classEffects() throws {
        let parsed = try read("[" + [
            msys("bounce", #""bounce_class":"60""#),
            msys("bounce", #""bounce_class":100"#),
            msys("out_of_band", #""bounce_class":"90""#),
            msys("bounce", #""bounce_class":"80""#),
        ].joined(separator: ",") + "]")
        #expect(parsed.events.map(\.kind) == [.autoReply, .autoReply, .unsubscribe])
        #expect(parsed.events.allSatisfy { $0.qualification == nil && $0.inBand == nil })
        #expect(parsed.skipped == ["subscribe": 1])
    }

    @Test("a delay with any class is a retry, never hard")
    func delayIsRetry() throws {
        let parsed = try read("[" + [
            msys("delay", #""bounce_class":"10","error_code":"450","num_retries":"2""#),
            msys("delay", #""bounce_class":"60""#),
            msys("delay", #""bounce_class":"22","error_code":452,"raw_reason":"452 4.2.2 mailbox full""#),
        ].joined(separator: ",") + "]")
        #expect(parsed.events.map(\.kind) == [.retry, .retry, .retry])
        #expect(parsed.events[0].qualification == Qualification(.soft, .userUnknown))
        #expect(parsed.events[0].attempt == 2 && !parsed.events[0].final)
        #expect(parsed.events[1].qualification == Qualification(.notDefined, .notDefined))  // class 60 is no failure → fallback
        #expect(parsed.events[2].qualification == Qualification(.soft, .mailboxFull))
        #expect(parsed.events[2].enhancedStatus == "4.2.2")
    }

    @Test("a bounce whose text is a timeout becomes a timeout qualified by its class")
    func timeoutBounce() throws {
        let reason = "554 5.4.7 [internal] message timeout (last transfail: 454 4.4.4 [internal] no MX or A for domain)"
        let parsed = try read("[" + [
            msys("bounce", #""bounce_class":"21","error_code":"554","raw_reason":"\#(reason)""#),
            msys("bounce", #""bounce_class":"24","error_code":"554","reason":"554 5.4.7 [internal] exceeded max time without delivery""#),
        ].joined(separator: ",") + "]")
        let first = parsed.events[0]
        #expect(first.kind == .timeout && first.final)
        #expect(first.enhancedStatus == "5.4.7")
        #expect(first.qualification == Qualification(.soft, .invalidDomain))
        #expect(first.response == reason)
        let second = parsed.events[1]
        #expect(second.kind == .timeout)
        #expect(second.qualification == Qualification(.soft, .unreachable))
        #expect(second.response == "554 5.4.7 [internal] exceeded max time without delivery")  // reason when no raw_reason
    }

    @Test("no class: the text rules qualify (4xx → soft unreachable, 5.1.1 → user unknown, nothing → not defined)")
    func fallback() throws {
        let parsed = try read("[" + [
            msys("bounce", #""error_code":"421","raw_reason":"421 Service not available, closing transmission channel""#),
            msys("bounce", #""error_code":"550","raw_reason":"550 5.1.1 no such user""#),
            msys("bounce", #""bounce_class":"999""#),
        ].joined(separator: ",") + "]")
        #expect(parsed.events[0].qualification == Qualification(.soft, .unreachable))
        #expect(parsed.events[1].qualification == Qualification(.hard, .userUnknown))
        #expect(parsed.events[2].qualification == Qualification(.notDefined, .notDefined))  // unknown class, no text
        #expect(parsed.events.allSatisfy { TextQualification.isTextTag($0.qualifier ?? "") })
        #expect(parsed.events[1].qualifier == RuleTable.builtIn.version + "#user-unknown-status")
    }

    @Test("a timeout is soft even when its class is undetermined, and an IP address is not a 5.4.7 code")
    func timeoutsAreSoft() throws {
        let parsed = try read("[" + [
            msys("bounce", #""bounce_class":"1","error_code":"554","raw_reason":"554 5.4.7 [internal] exceeded max time without delivery""#),
            msys("bounce", #""error_code":"554","raw_reason":"554 5.4.7 [internal] message timeout (last transfail: 454 4.4.4 [internal] no MX or A for domain)""#),
            msys("bounce", #""bounce_class":"51","error_code":"554","raw_reason":"554 5.7.1 Client host [192.5.4.77] blocked using zen.spamhaus.org""#),
        ].joined(separator: ",") + "]")
        #expect(parsed.events[0].kind == .timeout && parsed.events[0].qualification == Qualification(.soft, .unreachable))
        #expect(parsed.events[1].kind == .timeout && parsed.events[1].qualification?.type == .soft)
        #expect(parsed.events[2].kind == .bounce && parsed.events[2].qualification == Qualification(.soft, .refused))
    }

    @Test("a hard class with a 4xx reply is capped at soft (domain.md §5.1)")
    func temporaryNeverHard() throws {
        let e = try #require(try read("[" + msys("bounce", #""bounce_class":"10","error_code":"450""#) + "]").events.first)
        #expect(e.qualification == Qualification(.soft, .userUnknown))
    }

    @Test("complaint and both unsubscribe types")
    func complaintAndUnsubscribe() throws {
        let parsed = try read("[" + [
            msys("spam_complaint"), msys("list_unsubscribe", group: "unsubscribe_event"),
            msys("link_unsubscribe", group: "unsubscribe_event"),
        ].joined(separator: ",") + "]")
        #expect(parsed.events.map(\.kind) == [.complaint, .unsubscribe, .unsubscribe])
    }

    @Test("delivery id: campaign_id, empty campaign_id → transmission_id")
    func deliveryIdFallback() throws {
        let text = #"[{"type":"injection","campaign_id":"","transmission_id":"T9","rcpt_to":"a@b.example","timestamp":1}]"#
        #expect(try read(text).events.first?.delivery == "T9")
        let numeric = #"[{"type":"injection","transmission_id":123456,"rcpt_to":"a@b.example","timestamp":1}]"#
        #expect(try read(numeric).events.first?.delivery == "123456")
    }

    @Test("delivery key: dotted path, bare name at top level, bare name in rcpt_meta")
    func deliveryKey() throws {
        let element = msys("injection", #""rcpt_meta":{"delivery_id":"D-META","other":"x"},"my_id":"D-TOP""#)
        let text = "[" + element + "]"
        #expect(try read(text, options: IngestOptions(format: .sparkpost, deliveryKey: "rcpt_meta.delivery_id")).events.first?.delivery == "D-META")
        #expect(try read(text, options: IngestOptions(format: .sparkpost, deliveryKey: "delivery_id")).events.first?.delivery == "D-META")
        #expect(try read(text, options: IngestOptions(format: .sparkpost, deliveryKey: "my_id")).events.first?.delivery == "D-TOP")
        let error = try #require(readError(utf8(text), file: "events.json", options: IngestOptions(deliveryKey: "rcpt_meta.nope")))
        #expect(error.element == 0 && error.field == "rcpt_meta.nope")
        let bare = try #require(readError(utf8(text), file: "events.json", options: IngestOptions(deliveryKey: "nope")))
        #expect(bare.field == "nope")
    }

    @Test("raw_rcpt_to is the fallback recipient")
    func rawRecipient() throws {
        let text = #"[{"type":"delivery","campaign_id":"C","raw_rcpt_to":"<X@B.Example>","timestamp":1}]"#
        #expect(try read(text).events.first?.recipient == "X@b.example")
    }

    @Test("pings, a single msys object, flat elements in a batch")
    func shapes() throws {
        let ping = try read(#"[{"msys":{}}]"#, options: IngestOptions())
        #expect(ping.events.isEmpty && ping.skipped == ["ping": 1] && ping.format == .sparkpost)
        let single = try read(msys("injection"), options: IngestOptions())
        #expect(single.events.count == 1 && single.format == .sparkpost)
        let results = try read(#"{"results":[\#(msys("injection")),{"type":"delivery","campaign_id":"C","rcpt_to":"a@b.example","timestamp":1}],"links":[]}"#,
                               options: IngestOptions())
        #expect(results.events.map(\.kind) == [.relay, .delivered])
        let empty = try read("  \n", options: IngestOptions(format: .sparkpost))
        #expect(empty.events.isEmpty && empty.rejected.isEmpty)
        let emptyArray = try read("[ ]")
        #expect(emptyArray.events.isEmpty)
    }

    @Test("raw keeps the element's exact bytes, strings with brackets and escapes included")
    func rawBytes() throws {
        let element = "{ \"msys\" : {\"message_event\": {\"type\":\"bounce\", \"raw_reason\":\"550 5.1.1 a \\\"]}[{\\\\\\\" b\",\n"
            + "  \"campaign_id\":\"C\",\"rcpt_to\":\"a@b.example\",\"timestamp\":1, \"bounce_class\":\"10\"} } }"
        let text = "[\n  " + element + " ,\n" + msys("delivery") + "\n]\n"
        let parsed = try read(text)
        #expect(parsed.events.count == 2)
        #expect(parsed.events[0].raw == utf8(element))
        #expect(parsed.events[0].response == "550 5.1.1 a \"]}[{\\\" b")
        #expect(parsed.events[1].raw == utf8(msys("delivery")))
    }

    @Test("enhanced status: the first RFC 3463 code, not an IP address or a longer number")
    func enhancedStatus() {
        #expect(IngestRules.firstEnhancedStatus(in: "550 5.1.1 <a@b>: unknown") == "5.1.1")
        #expect(IngestRules.firstEnhancedStatus(in: "550-5.1.1 The email account") == "5.1.1")
        #expect(IngestRules.firstEnhancedStatus(in: "MAIL REFUSED - IP (17.99.99.99) is in black list") == nil)
        #expect(IngestRules.firstEnhancedStatus(in: "IP 5.1.1.1 blocked; 421 4.7.0 later") == "4.7.0")
        #expect(IngestRules.firstEnhancedStatus(in: "4.2.2") == "4.2.2")
        #expect(IngestRules.firstEnhancedStatus(in: "version 1.5.2") == nil)
        #expect(IngestRules.firstEnhancedStatus(in: "5.01.1 then 5.7.26") == "5.7.26")
    }
}

/// SparkPost's documented cases beyond the corpus (a tester's reproductions, each against its source).
@Suite("SparkPost reader: documented edge cases")
struct SparkPostDocumentedCasesTests {
    func read(_ text: String) throws -> ParsedInput {
        try FeedReader.read(utf8(text), file: "events.json", options: IngestOptions(format: .sparkpost))
    }

    /// SparkPost FAQ "Why is the recipient occasionally missing from the Out of Band event?": such an
    /// event is counted, and the batch's other events are read.
    @Test func outOfBandWithoutRecipientIsSkipped() throws {
        let oob = #"{"msys":{"message_event":{"type":"out_of_band","event_id":"E-oob","campaign_id":"C1","timestamp":"1454442600","bounce_class":"10","reason":"550 5.1.1 unknown"}}}"#
        let parsed = try read("[" + msys("injection") + "," + oob + "," + msys("delivery") + "]")
        #expect(parsed.events.map(\.kind) == [.relay, .delivered])
        #expect(parsed.skipped == ["out_of_band without recipient": 1])
        // Another type without rcpt_to stays an error naming the field.
        let bounce = #"{"msys":{"message_event":{"type":"bounce","event_id":"E-b","campaign_id":"C1","timestamp":"1454442600","bounce_class":"10"}}}"#
        #expect(throws: IngestError.self) { try read("[" + bounce + "]") }
    }

    /// rcpt_to is the recipient, whatever raw_rcpt_to says (some events lack raw_rcpt_to: a message
    /// must stay one recipient); raw_rcpt_to only when rcpt_to is missing.
    @Test func rcptToIsTheRecipient() throws {
        let e = try #require(try read("[" + msys("delivery", #""raw_rcpt_to":"Ann.Smith@Example.COM""#) + "]").events.first)
        #expect(e.recipient == "User@example.com")
        let bare = #"{"msys":{"message_event":{"type":"delivery","event_id":"E-d","campaign_id":"C1","raw_rcpt_to":"Ann@Example.COM","timestamp":"1454442600"}}}"#
        #expect(try read("[" + bare + "]").events.first?.recipient == "Ann@example.com")
    }

    /// domain.md §5.2: class 24 is "Timeout … failure (timeout)", whatever the text.
    @Test func class24IsATimeout() throws {
        let e = try #require(try read("[" + msys("bounce", #""bounce_class":"24","reason":"554 5.4.5 [internal] Delivery not attempted (message expired)""#) + "]").events.first)
        #expect(e.kind == .timeout && e.final)
        #expect(e.qualification == Qualification(.soft, .unreachable))
    }

    /// SparkPost relay webhooks (`relay_message`: inbound mail for a relay domain) are inbound relay:
    /// counted, never an error (domain.md §2).
    @Test func relayMessageIsInboundRelay() throws {
        let relay = #"{"msys":{"relay_message":{"content":{"subject":"hi"},"friendly_from":"a@example.com","msg_from":"a@example.com","rcpt_to":"in@relay.example","webhook_id":"123"}}}"#
        let parsed = try read("[" + relay + "]")
        #expect(parsed.events.isEmpty && parsed.skipped == ["inbound relay": 1])
    }
}

/// Whom a class-qualified failure concerns (address status, domain.md §6): the block classes
/// 50–54 never count against the address (§5.3 "blocked/spam/listed → Refused (the address stays
/// valid)"); another class's failure takes the text's answer (SparkPost's Adaptive Email Delivery
/// pause, `451 4.3.0 [internal] Sending IP temporarily suspended`, class 70: the sender's IP).
@Suite("Bounce classes: whom a failure concerns")
struct BounceClassConcernsTests {
    func event(_ members: String, type: String = "bounce") throws -> Event {
        try #require(try FeedReader.read(utf8("[" + msys(type, members) + "]"), file: "e.json", options: IngestOptions(format: .sparkpost)).events.first)
    }

    @Test(arguments: [(50, FailureConcern.sender), (51, .sender), (52, .content), (53, .content), (54, .sender)])
    func blockClasses(_ pair: (Int, FailureConcern)) throws {
        let e = try event(#""bounce_class":"\#(pair.0)","reason":"554 5.7.1 blocked""#)
        #expect(TextQualifier.builtIn.concerns(of: e) == pair.1)
    }

    @Test func classTextNamesTheSender() throws {
        let aed = try event(#""bounce_class":"70","reason":"451 4.3.0 [internal] Sending IP temporarily suspended""#, type: "delay")
        #expect(aed.qualification == Qualification(.soft, .unreachable))  // the class's type and reason
        #expect(TextQualifier.builtIn.concerns(of: aed) == .sender)
        let full = try event(#""bounce_class":"22","reason":"452 4.2.2 mailbox full""#, type: "delay")
        #expect(TextQualifier.builtIn.concerns(of: full) == .recipient)
    }
}
