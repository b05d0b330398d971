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
    }
}
