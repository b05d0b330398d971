import ArgumentParser
import DeliveryLedger
import Dispatch
import Foundation
import LedgerServer
import Logging

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the HTTP service: webhook receiver (SparkPost and seven providers), JSON API, dashboard, metrics.",
        discussion: """
            POST /webhooks/sparkpost takes SparkPost / Momentum webhook batches, POST /events canonical JSON \
            Lines, POST /webhooks/{ses,sendgrid,mailgun,postmark,brevo,mailjet,postal} each provider's webhooks; \
            each request is appended in one atomic batch and answered 200 only once durable. \
            Authentication, checked before anything is decoded: HTTP Basic credentials for SparkPost, /events, \
            Postmark, Brevo and Mailjet (--credentials-file, one user:password a line, several pairs accepted \
            at once for rotation, or $LEDGER_WEBHOOK_CREDENTIALS); each provider's signature for Mailgun \
            (--mailgun-signing-key-file), SendGrid (--sendgrid-public-key-file), Postal \
            (--postal-public-key-file) and Amazon SES through SNS (certificates fetched from Amazon's SNS hosts, \
            or --sns-certificate-file; --sns-topic-arn limits the topics and lets the service confirm their \
            subscriptions). Key files hold one key a line or PEM blocks (several: rotation); each has an \
            environment variable instead ($LEDGER_MAILGUN_SIGNING_KEY, $LEDGER_SENDGRID_PUBLIC_KEY, \
            $LEDGER_POSTAL_PUBLIC_KEY, $LEDGER_SNS_TOPIC_ARNS). An endpoint whose credentials or key are \
            not configured answers 503. The service refuses to start with no authentication at all unless \
            --insecure-no-auth is given (then nothing is checked). SIGTERM, SIGINT or SIGHUP stops it cleanly (exit \
            status 0): the listener closes, received requests finish, the projection is checkpointed. See \
            README "The service".
            """
    )

    @OptionGroup var database: DatabaseOptions
    @Option(help: ArgumentHelp("The address to listen on, HOST:PORT ([::1]:PORT for IPv6).", valueName: "host:port"))
    var listen: String = "127.0.0.1:8025"
    @Option(name: .customLong("credentials-file"), help: ArgumentHelp("HTTP Basic credentials of the webhook senders, one user:password a line.", valueName: "file"))
    var credentialsFile: String?
    @Option(name: .customLong("mailgun-signing-key-file"), help: ArgumentHelp("Mailgun's HTTP webhook signing key(s), one a line.", valueName: "file"))
    var mailgunSigningKeyFile: String?
    @Option(name: .customLong("sendgrid-public-key-file"), help: ArgumentHelp("SendGrid's Signed Event Webhook verification key(s): base64 as SendGrid shows it, or PEM.", valueName: "file"))
    var sendGridPublicKeyFile: String?
    @Option(name: .customLong("postal-public-key-file"), help: ArgumentHelp("Postal's public key(s): base64 as in its DNS record (p=), or PEM.", valueName: "file"))
    var postalPublicKeyFile: String?
    @Option(name: .customLong("sns-topic-arn"), help: ArgumentHelp("Accept SES notifications of this SNS topic only, and confirm its subscription (repeatable).", valueName: "arn"))
    var snsTopicArns: [String] = []
    @Option(name: .customLong("sns-certificate-file"), help: ArgumentHelp("Verify SNS messages with this signing certificate (PEM) instead of fetching it from Amazon (repeatable).", valueName: "file"))
    var snsCertificateFiles: [String] = []
    @Option(name: .customLong("signature-max-age"),
            help: ArgumentHelp("Refuse Mailgun and SendGrid signed timestamps further than this from now (default: Mailgun 32400, SendGrid 90000: their retry windows).", valueName: "seconds"))
    var signatureMaxAge: Int64?
    @Flag(name: .customLong("insecure-no-auth"), help: "Accept webhook requests without credentials or signatures (tests, a trusted network only).")
    var insecureNoAuth = false
    @Option(name: .customLong("max-body"), help: ArgumentHelp("The largest request body: bytes, or with KiB/MiB/GiB (default 32MiB); larger ones get 413.", valueName: "size"))
    var maxBody: String = "32MiB"
    @Option(name: .customLong("delivery-key"), help: "SparkPost field holding the delivery id (default campaign_id, else transmission_id); the provider endpoints use each provider's grouping field.")
    var deliveryKey: String?
    @Option(name: .customLong("max-connections"),
            help: ArgumentHelp("The most connections held open at once; more get 503 with Retry-After: 1 (default and maximum: the open-file limit, raised to its hard limit, less 128).", valueName: "n"))
    var maxConnections: Int?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical (access logs are info).")
    var logLevel: String = "info"

    func validate() throws {
        guard ServerConfiguration.parseListen(listen) != nil else {
            throw ValidationError("--listen must be HOST:PORT like 127.0.0.1:8025 or [::1]:8025, not '\(listen)'")
        }
        guard Self.byteSize(maxBody) != nil else { throw ValidationError("--max-body must be a size like 33554432, 512KiB or 32MiB, not '\(maxBody)'") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level '\(logLevel)' is not a swift-log level") }
        let authentication = [credentialsFile.map { _ in "--credentials-file" }, mailgunSigningKeyFile.map { _ in "--mailgun-signing-key-file" },
                              sendGridPublicKeyFile.map { _ in "--sendgrid-public-key-file" }, postalPublicKeyFile.map { _ in "--postal-public-key-file" },
                              snsTopicArns.isEmpty ? nil : "--sns-topic-arn", snsCertificateFiles.isEmpty ? nil : "--sns-certificate-file"].compactMap { $0 }
        if insecureNoAuth, let first = authentication.first { throw ValidationError("--insecure-no-auth and \(first) exclude each other") }
        if let signatureMaxAge, signatureMaxAge < 1 { throw ValidationError("--signature-max-age must be at least 1 second") }
        if let maxConnections, maxConnections < 1 { throw ValidationError("--max-connections must be at least 1") }
    }

    /// A secret's text and where it came from: the file when given, else the environment variable
    /// when set and not empty, else `nil`.
    /// - Throws: ``CLIError`` when the file cannot be read.
    static func secret(file: String?, variable: String?) throws -> (text: String, source: String)? {
        if let file {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw CLIError("\(file): cannot be read") }
            return (text, file)
        }
        if let variable, let text = ProcessInfo.processInfo.environment[variable], !text.isEmpty { return (text, "$" + variable) }
        return nil
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
        configuration.insecureNoAuthentication = insecureNoAuth
        configuration.maximumConnections = maxConnections
        // Under --insecure-no-auth nothing is read (not even the environment): nothing is checked.
        if !insecureNoAuth {
            do {
                if let (text, source) = try Self.secret(file: credentialsFile, variable: "LEDGER_WEBHOOK_CREDENTIALS") {
                    configuration.credentials = try Credentials(text: text, source: source)
                }
                var providers = ProviderAuthentication()
                if let (text, source) = try Self.secret(file: mailgunSigningKeyFile, variable: "LEDGER_MAILGUN_SIGNING_KEY") {
                    providers.mailgunSigningKeys = try ProviderAuthentication.keys(text: text, source: source)
                }
                if let (text, source) = try Self.secret(file: sendGridPublicKeyFile, variable: "LEDGER_SENDGRID_PUBLIC_KEY") {
                    providers.sendGridPublicKeys = try ProviderAuthentication.keys(text: text, source: source)
                }
                if let (text, source) = try Self.secret(file: postalPublicKeyFile, variable: "LEDGER_POSTAL_PUBLIC_KEY") {
                    providers.postalPublicKeys = try ProviderAuthentication.keys(text: text, source: source)
                }
                let topics = snsTopicArns.isEmpty
                    ? (ProcessInfo.processInfo.environment["LEDGER_SNS_TOPIC_ARNS"] ?? "").split(whereSeparator: { $0 == "," || $0.isWhitespace }).map(String.init)
                    : snsTopicArns
                providers.sns.topicArns = Set(topics)
                for file in snsCertificateFiles {
                    guard let text = try Self.secret(file: file, variable: nil)?.text else { continue }
                    providers.sns.certificates += try ProviderAuthentication.keys(text: text, source: file)
                }
                if let signatureMaxAge {
                    providers.mailgunMaximumAge = signatureMaxAge
                    providers.sendGridMaximumAge = signatureMaxAge
                }
                try providers.validate()
                configuration.providers = providers
            } catch let error as CredentialsError {
                throw CLIError("\(error)")
            }
        }
        if !configuration.hasWebhookAuthentication && !insecureNoAuth {
            throw CLIError("no webhook credentials: give --credentials-file FILE (user:password lines) or set $LEDGER_WEBHOOK_CREDENTIALS, and/or a provider's key (--mailgun-signing-key-file, --sendgrid-public-key-file, --postal-public-key-file, --sns-topic-arn, --sns-certificate-file); --insecure-no-auth runs without authentication")
        }
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = LogfmtHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "ledger.serve")
        if !configuration.insecureNoAuthentication {
            let p = configuration.providers
            let basic = configuration.credentials != nil
            let enabled: [(String, Bool)] = [("sparkpost", basic), ("events", basic), ("postmark", basic), ("brevo", basic), ("mailjet", basic),
                                             ("mailgun", !p.mailgunSigningKeys.isEmpty), ("sendgrid", !p.sendGridPublicKeys.isEmpty),
                                             ("postal", !p.postalPublicKeys.isEmpty), ("ses", true)]
            logger.notice("webhook endpoints", metadata: [
                "configured": "\(enabled.filter(\.1).map(\.0).joined(separator: " "))",
                "unconfigured_503": "\(enabled.filter { !$0.1 }.map(\.0).joined(separator: " "))",
                "sns_topics": "\(p.sns.topicArns.isEmpty ? "any (subscriptions logged, not confirmed)" : p.sns.topicArns.sorted().joined(separator: " "))",
            ])
        }
        // Checkpoints by policy on a thread of their own: an acknowledgement never waits for a whole
        // checkpoint, and its preparation runs beside the appends. Every 10,000 records rather than
        // the library's 250,000: the tail's tries stay small (each append's lookups and merge cost
        // less), and the one part that still stops the appends — the checkpoint's own write
        // transaction, which holds LMDB's single writer lock — lasts 17–38 ms instead of 48–95 ms
        // with 50,000 (`perf sched timehist` of the writer thread under load: 36 such waits in 5 s
        // instead of 9, the same 14 % of its time in all); those long waits were the
        // acknowledgements' p99. `Tools/serve-load --rate 100000`
        // (16 clients × 1,000 events, 20 s, 2026-12-05, jemalloc): ack p99 median of 9 runs 72 ms
        // with 10,000, ~110 ms with 20,000, ~204 ms with 50,000; back to back, 106–116 k events/s
        // with 10,000 and 112 k with 50,000 in 15 s runs (README "Crash test and load").
        // The ledger logs through the service's logger: a background checkpoint that failed (a full
        // disk) is a warning, not silence (found by a tester).
        let ledger = try database.open(.create, checkpoints: (inBackground: true, records: 10_000), logger: logger)
        if let note = ledger.reprojectionNote { logger.notice("\(note)") }
        let server = LedgerServer(ledger: ledger, configuration: configuration, logger: logger)
        let host = configuration.host
        let insecure = configuration.insecureNoAuthentication
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            do {
                try await server.run { port in
                    let address = "\(host.contains(":") ? "[\(host)]" : host):\(port)"
                    logger.notice("listening on http://\(address)", metadata: ["db": "\(ledger.path)"])
                    // Once bound: the address said is the one reached (with --listen …:0, the port given).
                    if insecure {
                        logger.warning("*** INSECURE: --insecure-no-auth: anyone who can reach \(address) can append events to \(ledger.path) ***")
                    }
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
