import DeliveryLedger
import Foundation
import LedgerTestSupport
import Testing

/// `ledger ingest` on the real SparkPost batches of ../shared/corpus/sparkpost, with statuses and
/// KPIs worked out by hand from domain.md.
@Suite struct IngestCorpusTests {
    /// java-sparkpost's captured batch (11 elements): campaign "test"; test@example.com has three
    /// `delivery` events (latest at 1496154611) and two injections → Sent under both semantics;
    /// as78…@example.com has an injection and a class-10 bounce (Gmail 550-5.1.1) → Failed, hard,
    /// User unknown. Three opens and a click are skipped. No declaration: to deliver = 2 messages.
    @Test func javaSparkPostCapturedBatch() throws {
        let cli = CLI()
        let r = cli.run("ingest", try cli.corpus("sparkpost/java-sparkpost/webhook-batch-captured-2017.json"))
        #expect(r.exitCode == 0, "\(r.error)")
        #expect(r.output.contains("Appended 7 events (positions 1–7), 0 duplicates, 4 skipped."), "\(r.output)")
        for semantics in ["classic", "efs"] {
            let k = try cli.kpis("test", semantics)
            #expect(k["toDeliver"] as? Int == 2)
            #expect(k["success"] as? Int == 1)
            #expect(k["successRate"] as? Double == 0.5)
            #expect(k["failed"] as? Int == 1)
            #expect(k["relayed"] as? Int == 2)
            #expect(k["delivered"] as? Int == 1)
            #expect(k["bounced"] as? Int == 1)
            #expect(k["bounceRate"] as? Double == 0.5)
            #expect(k["pending"] as? Int == 0)
            #expect((k["failedByType"] as? [String: Int])?["hard"] == 1)
            #expect((k["failedByReason"] as? [String: Int])?["userUnknown"] == 1)
        }
        let status = cli.run("status", "as78df9as9d0f8as90df8a9s0df890asdf890asdf@example.com", "--format", "json")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(status.output.utf8)) as? [String: Any])
        let efs = try #require(doc["efs"] as? [String: Any])
        #expect(efs["status"] as? String == "failed")
        #expect(efs["failureType"] as? String == "hard")
        #expect(efs["failureReason"] as? String == "userUnknown")
        let sent = cli.run("status", "test@example.com")
        #expect(sent.output.contains("Classic  Sent"), "\(sent.output)")
        #expect(sent.output.contains("EFS      Sent"), "\(sent.output)")

        // Ingesting the same file again appends nothing.
        let again = cli.run("ingest", try cli.corpus("sparkpost/java-sparkpost/webhook-batch-captured-2017.json"))
        #expect(again.output.contains("Appended 0 events, 7 duplicates, 4 skipped."), "\(again.output)")
        #expect(try cli.basisPosition() == 7)
    }

    /// SparkPost's Events-API samples (15 flat events, one shared event_id, one instant): the ledger
    /// keys them by (type, event_id), so 11 distinct events are appended (bounce, delivery, injection,
    /// spam_complaint, out_of_band, policy_rejection, delay, generation_failure, generation_rejection,
    /// list_unsubscribe, link_unsubscribe) and 4 skipped (sms_status, click, open, initial_open).
    /// All share one instant, so ties go by position: the last final outcome in the file is the
    /// generation_rejection, class 25 with the text "MAIL REFUSED - IP (…) is in black list": the
    /// sender's failure, so the text rule decides (issue #14) → Failed before relay, soft, Refused.
    @Test func eventsAPISamples() throws {
        let cli = CLI()
        let r = cli.run("ingest", try cli.corpus("sparkpost/official-docs/webhook-events-samples-api.json"))
        #expect(r.exitCode == 0, "\(r.error)")
        #expect(r.output.contains("Appended 11 events"), "\(r.output)")
        #expect(r.output.contains("4 skipped"), "\(r.output)")
        let status = cli.run("status", "recipient@example.com", "--format", "json")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(status.output.utf8)) as? [String: Any])
        for s in ["classic", "efs"] {
            let v = try #require(doc[s] as? [String: Any])
            #expect(v["status"] as? String == "failed")
            #expect(v["failureType"] as? String == "soft")
            #expect(v["failureReason"] as? String == "refused")
        }
        let k = try cli.kpis("Example Campaign Name", "classic")
        #expect(k["failed"] as? Int == 1)
        #expect(k["failedBeforeRelay"] as? Int == 1)
        #expect(k["bounced"] as? Int == 0)
        #expect(k["processed"] as? Int == 1)
    }

    /// gosparkpost's webhook batch: the same 11 kinds of message events (epoch-integer timestamps),
    /// 8 skipped (sms_status, click, open, five relay_* events).
    @Test func goSparkPostBatch() throws {
        let cli = CLI()
        let r = cli.run("ingest", try cli.corpus("sparkpost/gosparkpost/webhook-batch-sample-events.json"))
        #expect(r.exitCode == 0, "\(r.error)")
        #expect(r.output.contains("Appended 11 events"), "\(r.output)")
        #expect(r.output.contains("8 skipped"), "\(r.output)")
        let k = try cli.kpis("Example Campaign Name", "efs")
        #expect(k["failed"] as? Int == 1)
        #expect(k["toDeliver"] as? Int == 1)
    }

    /// The same sample events in both shapes carry the same ids with different timestamps: the
    /// second file is a conflict, reported with file and event, and appends nothing.
    @Test func sameIdsWithOtherContentAreAConflict() throws {
        let cli = CLI()
        #expect(cli.run("ingest", try cli.corpus("sparkpost/gosparkpost/webhook-batch-sample-events.json")).exitCode == 0)
        let r = cli.run("ingest", try cli.corpus("sparkpost/official-docs/webhook-events-samples-api.json"))
        #expect(r.exitCode != 0)
        #expect(r.error.contains("webhook-events-samples-api.json: element 0 (id 'sparkpost:bounce:92356927693813856')"), "\(r.error)")
        #expect(r.error.contains("different content"), "\(r.error)")
        #expect(try cli.basisPosition() == 11)
    }

    /// All 13 anymail payloads in one `ingest`: none errors. Worked out by hand: transmission
    /// 84345317650824116 (no campaign_id) has bounce@example.com bounced with class 10 (→ Failed,
    /// hard, User unknown) and recipient@nomx.example.com delayed with class 21 (→ retrying, soft,
    /// Invalid domain: Sent under classic, Taken into account under EFS); the trimmed
    /// challenge-response (no delivery, no time) is skipped; the suppressed recipient's
    /// generation_rejection is Failed before relay, hard, Address in quarantine.
    @Test func anymailPayloads() throws {
        let cli = CLI()
        let folder = try Corpus.folder().appendingPathComponent("sparkpost/anymail")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .filter { $0.hasSuffix(".json") && $0 != "expectations.anymail.json" }.sorted()
        #expect(files.count == 13)
        let r = cli.run(["ingest"] + files.map { folder.appendingPathComponent($0).path })
        #expect(r.exitCode == 0, "\(r.error)")
        let classic = try cli.kpis("84345317650824116", "classic")
        let efs = try cli.kpis("84345317650824116", "efs")
        #expect(classic["toDeliver"] as? Int == 2)
        #expect(classic["success"] as? Int == 1 && efs["success"] as? Int == 0)
        #expect(efs["takenIntoAccount"] as? Int == 1 && efs["retrying"] as? Int == 1)
        #expect(classic["failed"] as? Int == 1)
        #expect((classic["failedByReason"] as? [String: Int])?["userUnknown"] == 1)
        let retrying = cli.run("status", "recipient@nomx.example.com", "--format", "json")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(retrying.output.utf8)) as? [String: Any])
        let view = try #require(doc["efs"] as? [String: Any])
        #expect(view["status"] as? String == "takenIntoAccount")
        #expect(view["failureReason"] as? String == "invalidDomain")
        #expect(view["retrying"] as? Bool == true)
        let suppressed = try cli.kpis("102360394387646691", "efs")
        #expect(suppressed["failedBeforeRelay"] as? Int == 1)
        #expect((suppressed["failedByReason"] as? [String: Int])?["addressInQuarantine"] == 1)
    }
}
