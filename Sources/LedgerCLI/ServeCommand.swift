import ArgumentParser
import DeliveryLedger
import Dispatch
import Foundation
import LedgerServer
import Logging

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the HTTP service: SparkPost webhook receiver, JSON API, dashboard, metrics.",
        discussion: """
            POST /webhooks/sparkpost takes SparkPost / Momentum webhook batches, POST /events canonical JSON \
            Lines; each request is appended in one atomic batch and answered 200 only once durable. Webhook \
            requests need HTTP Basic credentials: --credentials-file (one user:password a line; several \
            pairs are accepted at once, for rotation) or $LEDGER_WEBHOOK_CREDENTIALS (same format); the \
            service refuses to start without them unless --insecure-no-auth is given. SIGTERM or SIGINT \
            stops it cleanly (exit status 0): the listener closes, received requests finish, the \
            projection is checkpointed. See README "The service".
            """
    )

    @OptionGroup var database: DatabaseOptions
    @Option(help: ArgumentHelp("The address to listen on, HOST:PORT ([::1]:PORT for IPv6).", valueName: "host:port"))
    var listen: String = "127.0.0.1:8025"
    @Option(name: .customLong("credentials-file"), help: ArgumentHelp("HTTP Basic credentials of the webhook senders, one user:password a line.", valueName: "file"))
    var credentialsFile: String?
    @Flag(name: .customLong("insecure-no-auth"), help: "Accept webhook requests without credentials (tests, a trusted network only).")
    var insecureNoAuth = false
    @Option(name: .customLong("max-body"), help: ArgumentHelp("The largest request body: bytes, or with KiB/MiB/GiB (default 32MiB); larger ones get 413.", valueName: "size"))
    var maxBody: String = "32MiB"
    @Option(name: .customLong("delivery-key"), help: "SparkPost field holding the delivery id (default campaign_id, else transmission_id).")
    var deliveryKey: String?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical (access logs are info).")
    var logLevel: String = "info"

    func validate() throws {
        guard ServerConfiguration.parseListen(listen) != nil else {
            throw ValidationError("--listen must be HOST:PORT like 127.0.0.1:8025 or [::1]:8025, not '\(listen)'")
        }
        guard Self.byteSize(maxBody) != nil else { throw ValidationError("--max-body must be a size like 33554432, 512KiB or 32MiB, not '\(maxBody)'") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level '\(logLevel)' is not a swift-log level") }
        if insecureNoAuth && credentialsFile != nil { throw ValidationError("--insecure-no-auth and --credentials-file exclude each other") }
    }

    /// `N`, `NKiB`, `NMiB`, `NGiB` in bytes (at least 1).
    static func byteSize(_ text: String) -> Int? {
        let units: [(String, Int)] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("", 1)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            guard let n = Int(text.dropLast(suffix.count)), n > 0, n <= Int.max / factor else { return nil }
            return n * factor
        }
        return nil
    }

    func run() throws {
        var configuration = ServerConfiguration()
        (configuration.host, configuration.port) = ServerConfiguration.parseListen(listen)!
        configuration.maximumBodyBytes = Self.byteSize(maxBody)!
        configuration.deliveryKey = deliveryKey
        do {
            if let credentialsFile {
                guard let text = try? String(contentsOfFile: credentialsFile, encoding: .utf8) else {
                    throw CLIError("\(credentialsFile): cannot be read")
                }
                configuration.credentials = try Credentials(text: text, source: credentialsFile)
            } else if let text = ProcessInfo.processInfo.environment["LEDGER_WEBHOOK_CREDENTIALS"], !text.isEmpty {
                configuration.credentials = try Credentials(text: text, source: "$LEDGER_WEBHOOK_CREDENTIALS")
            }
        } catch let error as CredentialsError {
            throw CLIError("\(error)")
        }
        if configuration.credentials == nil && !insecureNoAuth {
            throw CLIError("no webhook credentials: give --credentials-file FILE (user:password lines) or set $LEDGER_WEBHOOK_CREDENTIALS; --insecure-no-auth runs without authentication")
        }
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "ledger.serve")
        if configuration.credentials == nil {
            logger.warning("*** INSECURE: --insecure-no-auth: anyone who can reach \(listen) can append events to \(database.path) ***")
        }
        let ledger = try database.open(.create)
        let server = LedgerServer(ledger: ledger, configuration: configuration, logger: logger)
        let host = configuration.host
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            do {
                try await server.run { port in
                    logger.notice("listening on http://\(host.contains(":") ? "[\(host)]" : host):\(port)", metadata: ["db": "\(ledger.path)"])
                }
            } catch {
                outcome.set(error)
            }
            done.signal()
        }
        done.wait()
        if let error = outcome.error { throw CLIError("\(error)") }
    }
}

/// The server task's error, handed to the waiting command thread.
private final class Outcome: @unchecked Sendable {
    // Written once by the server task before it signals; read by the command after the wait.
    private(set) var error: (any Error)?
    func set(_ error: any Error) { self.error = error }
}
