import DeliveryLedger
import Foundation
import LedgerCLI
import LedgerServer
import LedgerTestSupport
import Testing

/// `/healthz`, `/readyz`, `/metrics`, and `ledger serve`'s refusal to run without credentials.
@Suite struct OperationsTests {
    @Test func healthAndReadiness() async throws {
        let server = try await RunningServer()
        let health = try await server.send("GET", "/healthz")
        #expect(health.status == 200)
        #expect(health.text == "ok\n")
        let ready = try await server.send("GET", "/readyz")
        #expect(ready.status == 200)
        #expect(ready.text == "ready: log position 0\n")
        await server.stop()
    }

    /// The counters follow what was posted: events appended by kind (the batch's own kinds, counted
    /// from the file), batches, duplicates, rejected requests by reason; the latency histograms and
    /// the database size are exposed.
    @Test func metricsCountWhatHappened() async throws {
        let server = try await RunningServer()
        let body = try Fixtures.corpus("sparkpost/gosparkpost/webhook-batch-sample-events.json")
        #expect(try await server.postBatch(body).status == 200)
        #expect(try await server.postBatch(body).status == 200)
        #expect(try await server.send("POST", "/webhooks/sparkpost", body: body).status == 401)
        #expect(try await server.postBatch(Array("[1]".utf8)).status == 400)
        let events = try FeedReaderCount.kinds(body)
        let text = try await server.send("GET", "/metrics").text
        func value(_ series: String) -> Double? {
            text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
        }
        for (kind, n) in events {
            #expect(value("ledger_events_appended_total{kind=\"\(kind)\"}") == Double(n), "\(kind)")
        }
        #expect(value("ledger_batches_total{format=\"sparkpost\"}") == 2)
        #expect(value("ledger_duplicate_events_total") == Double(events.values.reduce(0, +)))
        #expect(value("ledger_rejected_requests_total{reason=\"unauthorized\"}") == 1)
        #expect(value("ledger_rejected_requests_total{reason=\"malformed\"}") == 1)
        #expect(value("ledger_append_duration_seconds_count") == 2)
        #expect((value("ledger_database_bytes") ?? 0) > 0)
        #expect(value("ledger_projection_lag_records") != nil)
        #expect(text.contains("ledger_request_duration_seconds_count{route=\"/webhooks/sparkpost\"}"))
        await server.stop()
    }

    /// Without --credentials-file, $LEDGER_WEBHOOK_CREDENTIALS or --insecure-no-auth the service does
    /// not start, and says how to give credentials; a bad credentials file is named with its line.
    @Test func serveRefusesToStartWithoutCredentials() throws {
        let directory = TemporaryDirectory("ledger-serve")
        if ProcessInfo.processInfo.environment["LEDGER_WEBHOOK_CREDENTIALS"] == nil {
            let r = LedgerCLI.run(["serve", "--db", directory.path("l"), "--listen", "127.0.0.1:0"])
            #expect(r.exitCode == 1)
            #expect(r.error.contains("no webhook credentials"), "\(r.error)")
            #expect(r.error.contains("--insecure-no-auth"))
        }
        let file = directory.path("creds")
        _ = FileManager.default.createFile(atPath: file, contents: Data("ok:1\nno-colon\n".utf8))
        let bad = LedgerCLI.run(["serve", "--db", directory.path("l"), "--credentials-file", file])
        #expect(bad.exitCode == 1)
        #expect(bad.error.contains("\(file):2: expected user:password"), "\(bad.error)")
        let both = LedgerCLI.run(["serve", "--insecure-no-auth", "--credentials-file", file])
        #expect(both.exitCode != 0)
        let size = LedgerCLI.run(["serve", "--insecure-no-auth", "--max-body", "32MB"])
        #expect(size.error.contains("--max-body"))
        #expect(!FileManager.default.fileExists(atPath: directory.path("l")))
    }
}

/// Counts a batch's recorded events by kind, with the reader the service uses.
enum FeedReaderCount {
    static func kinds(_ body: [UInt8]) throws -> [String: Int] {
        let parsed = try LedgerIngestBridge.read(body)
        var counts: [String: Int] = [:]
        for e in parsed { counts[e.kind.rawValue, default: 0] += 1 }
        return counts
    }
}
