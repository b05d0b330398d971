import Glibc
import ArgumentParser
import DeliveryLedger
import Foundation
import Logging

/// The `ledger` command: the root of the command line.
public struct LedgerCommand: ParsableCommand {
    /// The subcommands and help text.
    public static let configuration = CommandConfiguration(
        commandName: "ledger",
        abstract: "Delivery Ledger: the system of record for email delivery feedback.",
        discussion: """
            Records every MTA report (relay, delivered, bounces, retries, timeouts) as an immutable event \
            in an LMDB ledger and projects per-recipient statuses and per-delivery KPIs under the classic \
            and the EFS (Email Feedback Service) semantics.
            The database is the directory given by --db, else $LEDGER_DB, else ./ledger.lmdb (created on first use).
            """,
        version: "delivery-ledger 0.10 (ledger format 6, record format 2)",
        subcommands: [DemoCommand.self, IngestCommand.self, ProjectCommand.self, StatusCommand.self, HistoryCommand.self, AddressCommand.self, QuarantineCommand.self, QualifyCommand.self, EFSCommand.self, SweepCommand.self, AuditCommand.self, DomainsCommand.self, TimelineCommand.self, ReprojectCommand.self, VerifyCommand.self, RepairCommand.self, BackupCommand.self, GenerateCommand.self, ServeCommand.self]
    )

    /// Creates the command (argument-parser calls it).
    public init() {}
}

/// Options shared by the commands that use a ledger database.
public struct DatabaseOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The ledger database directory (default: $LEDGER_DB, else ./ledger.lmdb).", valueName: "path"))
    /// The `--db` value, if given.
    public var db: String?

    @Option(name: .long, help: ArgumentHelp("A qualification rule table (JSON, Schemas/rules.schema.json) to use instead of the built-in one (default: $LEDGER_RULES, else the built-in table).", valueName: "file"))
    /// The `--rules` value, if given.
    public var rules: String?

    /// The rule table chosen: `--rules`, else `$LEDGER_RULES` in `environment`, else `nil` (the built-in table). A
    /// ledger re-projected with a table of one's own is read and written with it by every command,
    /// so it is set once in the environment rather than given to each (found by a fresh user: an
    /// ingest without `--rules` re-projected back to the built-in table).
    public func rulesPath(environment: [String: String]) -> String? { RulesOption.path(given: rules, environment: environment) }

    /// Creates the options (argument-parser calls it).
    public init() {}

    /// The path chosen: `--db`, else `$LEDGER_DB`, else `./ledger.lmdb`.
    public var path: String {
        if let db { return db }
        if let env = ProcessInfo.processInfo.environment["LEDGER_DB"], !env.isEmpty { return env }
        return "./ledger.lmdb"
    }

    /// How a command uses the ledger.
    enum Access {
        /// Appends, creating the ledger when the path does not exist (`ingest`, `efs enable`).
        case create
        /// Writes to an existing ledger (`sweep`, `reproject`).
        case write
        /// Only reads: the environment is opened read-only and no write transaction is begun, so a
        /// writer never makes it wait and read-only files do (``LedgerOptions/readOnly``).
        case read
    }

    /// Opens the ledger. A writer (`.create`, `.write`) opening an existing ledger first walks
    /// LMDB's pages (``Ledger/verifyStructure()``) unless `checkStructure` is false (`ingest
    /// --no-verify`): a write allocates pages from LMDB's free-page list, and one that lists a page
    /// still in use has the write destroy records (found by a tester: `sweep` overwrote a log page
    /// that `verify` reported listed as free). Only `ingest` and `sweep` run the whole of `verify` before they append.
    ///
    /// A reader (`.read`) walks the pages too when the data file is at most
    /// ``readerPageWalkLimitBytes``: LMDB trusts its pages, so one flipped byte in a branch page's keys
    /// or node table makes it skip records without an error — a quarantine list missing addresses, a
    /// delivery missing from `project`, an audit of "0 findings", all with exit status 0 (found by a
    /// tester) — where the walk names the damage in about 1 % of `verify`'s time. Above the limit the
    /// walk would cost every query a read of the whole file: such a ledger relies on a scheduled
    /// `ledger verify` (README, "Reliability").
    /// `checkpoints`: ``LedgerOptions/checkpointsInBackground`` and ``LedgerOptions/checkpointRecords``
    /// when not the library's (`ledger serve`); `logger`: where the ledger logs (a background
    /// checkpoint that failed, map growth), none by default.
    func open(_ access: Access, checkStructure: Bool = true, checkpoints: (inBackground: Bool, records: UInt64)? = nil,
              logger: Logger? = nil) throws -> Ledger {
        var options = LedgerOptions()
        if let logger { options.logger = logger }
        if let checkpoints {
            options.checkpointsInBackground = checkpoints.inBackground
            options.checkpointRecords = checkpoints.records
        }
        options.createIfMissing = access == .create
        options.readOnly = access == .read
        options.rules = try RulesOption.qualifier(given: rules)
        let dataFile = path + "/data.mdb"
        let existed = FileManager.default.fileExists(atPath: dataFile)
        let ledger = try Ledger(path: path, options: options)
        if access != .read, existed, checkStructure { try ledger.verifyStructure() }
        if access == .read, existed, checkStructure,
           let size = (try? FileManager.default.attributesOfItem(atPath: dataFile))?[.size] as? Int, size <= Self.readerPageWalkLimitBytes {
            try ledger.verifyStructure()
        }
        return ledger
    }

    /// The largest data file a reading command walks at open (``open(_:checkStructure:)``): 256 MiB,
    /// about a million events, a quarter of a second at most (the walk reads each page once and
    /// decodes no record: `project` on a 58 MB ledger of 184,156 events took 0.11 s with it, 0.06 s
    /// without, release build, 2026-12-04).
    static let readerPageWalkLimitBytes = 256 << 20
}

extension Ledger {
    /// A line saying that opening this ledger for writing re-projected it with another rule table
    /// or layout than it was built with (so that a user who re-projected with `--rules FILE` and then
    /// writes without it is told), or `nil` when the opening rebuilt nothing or built a new ledger.
    var reprojectionNote: String? {
        guard let info = rebuiltOnOpen, info.generation > 1 else { return nil }
        return "Note: the projection had been built with another rule table or layout; re-projected with rule table \(info.rules) "
            + "(generation \(info.generation), \(info.eventsFolded) events). To keep a table given with --rules, give it to every command (or set $LEDGER_RULES)."
    }
}

/// Loads the `--rules` table, or the built-in one.
enum RulesOption {
    /// The rule table's path: `given` (`--rules`), else `$LEDGER_RULES` when set and not empty, else
    /// `nil` (the built-in table).
    static func path(given: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let given { return given }
        if let env = environment["LEDGER_RULES"], !env.isEmpty { return env }
        return nil
    }

    /// The qualifier of the table ``path(given:environment:)`` names, or the built-in one.
    static func qualifier(given: String?) throws -> TextQualifier {
        guard let path = path(given: given) else { return .builtIn }
        do {
            return try TextQualifier(table: RuleTable.load(contentsOf: path))
        } catch {
            // A path that came from the environment says so (a user who forgot it was set).
            throw CLIError("\(error)" + (given == nil ? " (the rule table named by $LEDGER_RULES)" : ""))
        }
    }
}

/// A command whose work writes into an output buffer, so tests can run it in-process.
protocol OutputCommand: ParsableCommand {
    func execute(_ out: inout Output) throws
}

extension OutputCommand {
    /// Runs the command, printing to standard output.
    public func run() throws {
        var out = Output()
        defer { out.flush() }
        try execute(&out)
    }
}

/// What a command prints: standard output text, flushed at the end (and by large writers as they go).
public struct Output {
    /// What was written and not yet flushed.
    public var text = ""
    var streaming: Bool

    /// An output that flushes to standard output as it goes (`streaming`), or keeps everything in ``text``.
    public init(streaming: Bool = true) { self.streaming = streaming }

    mutating func line(_ s: String = "") {
        text += Self.printable(s)
        text += "\n"
        if streaming && text.utf8.count > 1 << 16 { flush() }
    }

    /// `s` with its C0 control characters made visible: an MTA's reply, a delivery label or an
    /// address come from outside, and an ESC in them would drive the reader's terminal (colours,
    /// cursor moves, a rewritten window title: CWE-150). Every C0 control but tab and line feed
    /// becomes its Control Picture (U+2400 + code: `␛`, `␀`, `␇`). JSON output holds no raw C0
    /// control (RFC 8259 §7 escapes them), and CSV (RFC 4180 TEXTDATA) and SVG (XML 1.0 Char)
    /// allow none, so every format is unchanged or made valid.
    static func printable(_ s: String) -> String {
        guard s.utf8.contains(where: { $0 < 0x20 && $0 != 0x09 && $0 != 0x0A }) else { return s }
        var result = String.UnicodeScalarView()
        for scalar in s.unicodeScalars {
            if scalar.value < 0x20 && scalar != "\t" && scalar != "\n" {
                result.append(Unicode.Scalar(0x2400 + scalar.value)!)
            } else {
                result.append(scalar)
            }
        }
        return String(result)
    }

    mutating func flush() {
        guard streaming, !text.isEmpty else { return }
        let bytes = Array(text.utf8)
        text = ""
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { Glibc.write(1, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                // A pipe whose reader left (`ledger quarantine | head`: EPIPE, SIGPIPE being ignored):
                // the reader took what it wanted, so the command ends quietly with status 0, as
                // ripgrep does (never by a signal, nor with an error for what the user asked).
                if n < 0 && errno == EPIPE { exit(0) }
                // Standard output cannot take more (a full disk, a closed descriptor): say so and end
                // with status 1.
                let reason = n < 0 ? String(cString: strerror(errno)) : "nothing written"
                // Written with write(2), its failure ignored: Foundation's `FileHandle.write` traps
                // (SIGILL) when standard error is closed too (`ledger … 2>&- | head`).
                let message = Array("Error: cannot write to standard output: \(reason)\n".utf8)
                _ = message.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
                exit(1)
            }
            written += n
        }
    }
}

/// Files the commands write (`--reject-file`, `generate --output`): opened in place — a symlink is
/// followed, a FIFO or device written to, never replaced by a new file — and created 0600, since they
/// hold recipient addresses like the ledger's own files.
enum OutputFile {
    /// Opens `path` for writing, truncated, created 0600 when missing.
    /// - Throws: ``CLIError`` naming the path and the system's reason.
    static func open(_ path: String) throws -> FileHandle {
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CLIError("cannot write \(path): \(String(cString: strerror(errno)))") }
        return FileHandle(fileDescriptor: fd, closeOnDealloc: true)
    }
}

/// Runs the command line in-process and returns what it printed (for tests and embedding).
public enum LedgerCLI {
    /// What a run printed and how it ended.
    public struct Result: Sendable {
        /// Standard output.
        public var output: String
        /// The error message (as `ledger` prints it on standard error), empty on success.
        public var error: String
        /// The exit code: 0 on success.
        public var exitCode: Int32
    }

    /// Parses `arguments` (without the program name) and runs the command in-process.
    public static func run(_ arguments: [String]) -> Result {
        do {
            var command = try LedgerCommand.parseAsRoot(arguments)
            guard let outputCommand = command as? any OutputCommand else {
                try command.run()
                return Result(output: "", error: "", exitCode: 0)
            }
            var out = Output(streaming: false)
            do {
                try outputCommand.execute(&out)
            } catch {
                return Result(output: out.text, error: LedgerCommand.fullMessage(for: error),
                              exitCode: LedgerCommand.exitCode(for: error).rawValue)
            }
            return Result(output: out.text, error: "", exitCode: 0)
        } catch {
            return Result(output: "", error: LedgerCommand.fullMessage(for: error), exitCode: LedgerCommand.exitCode(for: error).rawValue)
        }
    }
}

/// An error for people, printed as `Error: <message>` with exit code 1.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
