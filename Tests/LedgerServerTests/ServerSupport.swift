import DeliveryLedger
import Foundation
import LedgerCLI
import LedgerServer
import LedgerTestSupport
import Logging

/// A `LedgerServer` running in this process on a loopback port of its own, over a ledger in a fresh
/// temporary directory; requests go over real sockets (``LoopbackHTTP``).
final class RunningServer: Sendable {
    let directory: TemporaryDirectory
    let ledger: Ledger
    let port: Int
    private let task: Task<Void, any Error>

    /// The credentials most tests use: two pairs (a rotation in progress).
    static let credentialsText = "sparkpost:first-secret\n# rotated in:\nsparkpost:second-secret\n"
    static let auth = LoopbackHTTP.basic("sparkpost", "first-secret")

    /// Starts a server; `prepare`, when given, builds the ledger first (e.g. `ledger demo --db PATH`).
    init(credentials: Credentials? = try? Credentials(text: RunningServer.credentialsText, source: "test"),
         maximumBodyBytes: Int = 32 << 20, prepare: ((String) throws -> Void)? = nil,
         configure: ((inout ServerConfiguration) -> Void)? = nil) async throws {
        directory = TemporaryDirectory("ledger-server")
        try prepare?(directory.path("ledger.lmdb"))
        var options = LedgerOptions()
        options.durable = false
        ledger = try Ledger(path: directory.path("ledger.lmdb"), options: options)
        var configuration = ServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.credentials = credentials
        configuration.maximumBodyBytes = maximumBodyBytes
        // Not the service's 30 s: the whole suite, run at once on two cores, can keep a route from
        // running that long, and a connection whose request is still being read (a chunked body the
        // route has not consumed, a head waiting for 100 Continue) is then closed unanswered. A test
        // of the idle close sets its own.
        configuration.idleTimeout = .seconds(600)
        configure?(&configuration)
        var logger = Logger(label: "test.server")
        logger.logLevel = .critical
        let server = LedgerServer(ledger: ledger, configuration: configuration, logger: logger)
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = server.makeApplication { port in continuation.yield(port) }
        task = Task { try await app.run() }
        var bound = 0
        for await p in ports { bound = p; break }
        port = bound
    }

    deinit { task.cancel() }

    /// Stops the server (graceful shutdown) and waits for it.
    func stop() async {
        task.cancel()
        _ = try? await task.value
    }

    /// Sends one request from a thread outside Swift's cooperative pool (the client blocks).
    func send(_ method: String = "GET", _ path: String, headers: [(String, String)] = [], body: [UInt8]? = nil) async throws -> LoopbackHTTP.Reply {
        let port = self.port
        return try await onThreadOfItsOwn { try LoopbackHTTP.request(port: port, method: method, path: path, headers: headers, body: body) }
    }

    /// POSTs a SparkPost batch with the accepted credentials.
    func postBatch(_ body: [UInt8], headers: [(String, String)] = []) async throws -> LoopbackHTTP.Reply {
        try await send("POST", "/webhooks/sparkpost", headers: [RunningServer.auth, ("Content-Type", "application/json")] + headers, body: body)
    }

    /// A consistent copy of the ledger (`Ledger.backup`), for the CLI to read while the server runs
    /// (one process opens a database path once).
    func copy() throws -> String {
        let path = directory.path("copy-\(UUID().uuidString)")
        _ = try ledger.backup(to: path)
        return path
    }

    /// The log's last position.
    func position() throws -> UInt64 { try ledger.basis().position }
}

/// Test data.
enum Fixtures {
    /// The SparkPost webhook batches of the corpus: arrays of `{"msys": …}` as SparkPost POSTs them.
    static let webhookBatches: [String] = [
        "sparkpost/gosparkpost/webhook-batch-sample-events.json",
        "sparkpost/java-sparkpost/webhook-batch-captured-2017.json",
        "sparkpost/anymail/bounce_event.json",
        "sparkpost/anymail/delay_event.json",
        "sparkpost/anymail/delivery_event.json",
        "sparkpost/anymail/injection_event.json",
        "sparkpost/anymail/generation_failure_event.json",
        "sparkpost/anymail/generation_rejection_event.json",
        "sparkpost/anymail/unsubscribe_event.json",
    ]

    static func corpus(_ relative: String) throws -> [UInt8] {
        Array(try Data(contentsOf: Corpus.folder().appendingPathComponent(relative)))
    }

    static func corpusPath(_ relative: String) throws -> String {
        try Corpus.folder().appendingPathComponent(relative).path
    }
}
