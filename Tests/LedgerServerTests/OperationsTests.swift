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
        // HEAD answers as GET, without the body (RFC 9110 §9.3.2; it was 404).
        let head = try await server.send("HEAD", "/readyz")
        #expect(head.status == 200 && head.text.isEmpty, "\(head.status) \(head.text)")
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

/// `ledger serve`'s provider options: keys checked at start, `--insecure-no-auth` alone, the help.
@Suite struct ServeProviderOptionsTests {
    @Test func keysAreCheckedAtStartAndInsecureStandsAlone() throws {
        let directory = TemporaryDirectory("ledger-serve-keys")
        let notAKey = directory.path("sendgrid.key")
        _ = FileManager.default.createFile(atPath: notAKey, contents: Data("# SendGrid\nbm90IGEga2V5\n".utf8))
        let bad = LedgerCLI.run(["serve", "--db", directory.path("l"), "--sendgrid-public-key-file", notAKey, "--listen", "127.0.0.1:0"])
        #expect(bad.exitCode == 1)
        #expect(bad.error.contains("the SendGrid verification key: key 1"), "\(bad.error)")
        let empty = directory.path("mailgun.key")
        _ = FileManager.default.createFile(atPath: empty, contents: Data("# nothing\n".utf8))
        let none = LedgerCLI.run(["serve", "--db", directory.path("l"), "--mailgun-signing-key-file", empty, "--listen", "127.0.0.1:0"])
        #expect(none.error.contains("\(empty): no key"), "\(none.error)")
        for option in [["--mailgun-signing-key-file", empty], ["--sns-topic-arn", "arn:aws:sns:us-east-1:1:T"]] {
            let both = LedgerCLI.run(["serve", "--insecure-no-auth"] + option)
            #expect(both.exitCode != 0 && both.error.contains(option[0]), "\(both.error)")
        }
        #expect(!FileManager.default.fileExists(atPath: directory.path("l")))
        let help = LedgerCLI.run(["serve", "--help"])
        for option in ["--mailgun-signing-key-file", "--sendgrid-public-key-file", "--postal-public-key-file", "--sns-topic-arn",
                       "--sns-certificate-file", "--signature-max-age", "/webhooks/{ses,sendgrid,mailgun,postmark,brevo,mailjet,postal}"] {
            #expect((help.output + help.error).contains(option), "\(option)")
        }
    }

    /// Key files: PEM blocks when there are any (several: rotation), else one key a line, `#` comments.
    @Test func keyFiles() throws {
        #expect(try ProviderAuthentication.keys(text: "# old\nkey-1\n\n  key-2  \n", source: "f") == ["key-1", "key-2"])
        let pem = "-----BEGIN PUBLIC KEY-----\nAAAA\nBBBB\n-----END PUBLIC KEY-----\n"
        #expect(try ProviderAuthentication.keys(text: "# two keys\n" + pem + pem, source: "f") == [pem, pem])
        #expect(throws: CredentialsError.self) { try ProviderAuthentication.keys(text: "-----BEGIN PUBLIC KEY-----\nAAAA\n", source: "f") }
        #expect(throws: CredentialsError.self) { try ProviderAuthentication.keys(text: "\n# none\n", source: "f") }
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
