import DeliveryLedger
import Foundation
import Testing

/// Issue #15 part 3, through the command line: one ledger, many providers. A delivery sent through
/// SendGrid, Postmark and Brevo at once has its KPIs per recipient whatever the source, and `status`
/// and `history` say which provider reported each event.
@Suite("CLI: provider webhooks")
struct ProvidersCLITests {
    @Test("one delivery through three providers: auto-detected, KPIs per recipient, the source of each event shown")
    func oneLedgerManyProviders() throws {
        let cli = CLI()
        // ann through SendGrid (category "spring"): processed then delivered.
        let sendgrid = cli.file("sendgrid.json", """
            [{"email":"ann@example.com","timestamp":1793610000,"event":"processed","sg_event_id":"p1","sg_message_id":"m1.f","category":"spring"},
             {"email":"ann@example.com","timestamp":1793610004,"event":"delivered","sg_event_id":"d1","sg_message_id":"m1.f","category":"spring","response":"250 OK"}]
            """)
        // bob through Postmark (Tag "spring"): a hard bounce, 550 5.1.1.
        let postmark = cli.file("postmark.json", """
            {"RecordType":"Bounce","ID":42,"Type":"HardBounce","TypeCode":1,"MessageID":"pm-1","Tag":"spring","Email":"bob@example.org","BouncedAt":"2026-11-02T09:00:09Z","Details":"smtp;550 5.1.1 user unknown"}
            """)
        // cy through Brevo (tags ["spring"]): request only.
        let brevo = cli.file("brevo.json", """
            {"event":"request","email":"cy@example.net","message-id":"<b-1@smtp-relay.mailin.fr>","ts_epoch":1793610001000,"tags":["spring"]}
            """)
        let ingest = cli.run("ingest", sendgrid, postmark, brevo)
        #expect(ingest.exitCode == 0, "\(ingest.error)")
        #expect(ingest.output.contains("sendgrid, 2 events") && ingest.output.contains("postmark, 1 event") && ingest.output.contains("brevo, 1 event"))

        // Classic: ann and cy Sent (relayed), bob Failed. EFS: ann Sent (delivered), cy Taken into account, bob Failed.
        let classic = try cli.kpis("spring", "classic")
        #expect(classic["toDeliver"] as? Int == 3 && classic["sent"] as? Int == 2 && classic["failed"] as? Int == 1)
        let efs = try cli.kpis("spring", "efs")
        #expect(efs["sent"] as? Int == 1 && efs["takenIntoAccount"] as? Int == 1 && efs["failed"] as? Int == 1)

        let status = cli.run("status", "ann@example.com", "--delivery", "spring")
        #expect(status.exitCode == 0 && status.output.contains("from sendgrid: relay") && status.output.contains("from sendgrid: delivered"), "\(status.output)")
        let json = cli.run("status", "bob@example.org", "--delivery", "spring", "--format", "json")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any])
        let events = try #require(doc["events"] as? [[String: Any]])
        #expect(events.map { $0["source"] as? String } == ["postmark"])
        let history = cli.run("history", "cy@example.net")
        #expect(history.exitCode == 0 && history.output.contains("Source") && history.output.contains("brevo"), "\(history.output)")

        // Posting the same three bodies again appends nothing.
        let again = cli.run("ingest", sendgrid, postmark, brevo)
        #expect(again.exitCode == 0)
        #expect(try cli.kpis("spring", "efs")["sent"] as? Int == 1)
    }

    @Test("--format chooses a provider; a body of another provider is refused naming the field")
    func explicitFormat() throws {
        let cli = CLI()
        let body = cli.file("mailjet.json", #"[{"event":"sent","time":1793610000,"MessageID":1,"email":"ann@example.com","customcampaign":"c1"}]"#)
        #expect(cli.run("ingest", "--format", "mailjet", body).exitCode == 0)
        let wrong = cli.run("ingest", "--format", "postal", body)
        #expect(wrong.exitCode != 0 && wrong.error.contains("element 0"), "\(wrong.error)")
        // Read as SparkPost's, a SendGrid bounce (it has a `type` too) is said to be another provider's,
        // not a SparkPost event without campaign_id.
        let sendgrid = cli.file("sendgrid.json", #"[{"email":"ann@example.com","timestamp":1793610000,"event":"bounce","type":"bounce","sg_event_id":"b1","sg_message_id":"m1.f","reason":"550 5.1.1 unknown"}]"#)
        let asSparkPost = cli.run("ingest", "--format", "sparkpost", sendgrid)
        #expect(asSparkPost.exitCode == 1 && asSparkPost.error.contains("element 0: field 'event': not a SparkPost event"), "\(asSparkPost.error)")
    }

    /// Brevo's events given as SendGrid's or Mailjet's (all three name their type `event`) read
    /// without error, every element skipped — a type the chosen provider does not have, or (SendGrid's
    /// `delivered`, a name the two share) without the time field SendGrid's events carry: the file is
    /// refused, naming what was skipped, and nothing is appended; --allow-empty accepts it. One
    /// unknown type among complete events is skipped (providers add types).
    @Test(arguments: ["sendgrid", "mailjet"])
    func anotherProvidersEventsAreRefused(format: String) throws {
        let cli = CLI()
        let brevo = cli.file("brevo.json", #"""
        [{"event":"hard_bounce","email":"ann@example.com","ts_epoch":1793610000000,"message-id":"<m1@example.com>","reason":"550 5.1.1 unknown"},
         {"event":"soft_bounce","email":"bob@example.com","ts_epoch":1793610000000,"message-id":"<m2@example.com>","reason":"452 4.2.2 full"},
         {"event":"request","email":"cy@example.com","ts_epoch":1793610000000,"message-id":"<m3@example.com>"},
         {"event":"delivered","email":"cy@example.com","ts_epoch":1793610004000,"message-id":"<m3@example.com>"},
         {"event":"click","email":"cy@example.com","ts_epoch":1793610009000,"message-id":"<m3@example.com>","link":"https://example.com/"}]
        """#)
        let wrong = cli.run("ingest", "--format", format, brevo)
        #expect(wrong.exitCode == 1, "\(wrong.output)")
        #expect(wrong.error.contains("none of its 5 elements is a complete \(format) event"), "\(wrong.error)")
        // `click` is a type of both (skipped as engagement), but without the chosen provider's time field.
        let delivered = format == "sendgrid" ? "sendgrid delivered without timestamp" : "mailjet delivered"
        #expect(wrong.error.contains("\(format) click ×1, \(delivered) ×1, \(format) hard_bounce ×1, \(format) request ×1, \(format) soft_bounce ×1"),
                "\(wrong.error)")
        #expect(wrong.error.contains("Nothing was appended"), "\(wrong.error)")
        #expect(try cli.basisPosition() == 0)
        #expect(cli.run("ingest", "--format", format, "--allow-empty", brevo).exitCode == 0)
        // Read as what it is, the file gives its three events.
        let right = cli.run("ingest", brevo)
        #expect(right.exitCode == 0 && right.output.contains("brevo, 4 events, 1 skipped"), "\(right.output) \(right.error)")
    }

    /// A SendGrid file whose one element is an open (documented, skipped) and whose other is a type
    /// SendGrid does not document today: both skipped, the file accepted.
    @Test func anUnknownTypeAmongDocumentedOnesIsSkipped() throws {
        let cli = CLI()
        let body = cli.file("sendgrid.json", #"""
        [{"email":"ann@example.com","timestamp":1793610000,"event":"open","sg_event_id":"o1","sg_message_id":"m1.f"},
         {"email":"ann@example.com","timestamp":1793610001,"event":"machine_open","sg_event_id":"x1","sg_message_id":"m1.f"}]
        """#)
        let r = cli.run("ingest", "--format", "sendgrid", body)
        #expect(r.exitCode == 0, "\(r.error)")
        #expect(r.output.contains("sendgrid machine_open 1") && r.output.contains("sendgrid open 1"), "\(r.output)")
    }
}
