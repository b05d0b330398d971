/// `qualify-eval`: runs the RFC 3464 / bounce reader (`DSNReader`) over the Sisimai bounce corpus
/// and compares its qualifications with the corpus expectations.
///
///     swift run -c release qualify-eval [--corpus DIR] [--verbose] [--timeout SECONDS] [--jobs N]
///
/// `--corpus` is the folder holding `emails/` and `expectations.tsv`; by default
/// `../shared/corpus/sisimai` relative to the package root (the current directory when it has it,
/// else found from this source file's path). Every `.eml` file is read in a child process (this
/// executable, `--single FILE`) with a time limit (default 10 s), so a crash or a hang is counted
/// instead of ending the run; `--jobs` children run at once (default: the processor count). Each
/// file is read with `DSNOptions(delivery: "corpus")` (the corpus bounces carry no delivery header).
///
/// Printed: reason agreement (matching rows / rows), hard/soft agreement (our type hard vs Sisimai
/// `hardbounce` yes, on rows whose expected reason is not Invalid domain), the same two figures for
/// the development part and the held-out part of the corpus and their gap in points (the MTA modules
/// sorted by name, every fifth held out: `DSNEvaluation.heldOutModules`; rules are to be written from
/// the development part's disagreements only), the crash/hang count over
/// all emails, the files that gave a read error, and the disagreements (file, rcpt, expected, got,
/// rule id, text snippet); `--verbose` lists every row and error. Exit status: 1 when a file
/// crashed or hung (or the corpus is missing), 0 otherwise — disagreements are not failures.
///
/// ## Mapping of Sisimai reasons to ours (decided by the project)
/// - userunknown, hasmoved → User unknown
/// - hostunknown, notaccept → Invalid domain
/// - mailboxfull → Mailbox full
/// - suspend → Account disabled
/// - expired, networkerror, systemerror, systemfull, mailererror, toomanyconn → Unreachable
/// - filtered, rejected, blocked, spamdetected, policyviolation, securityerror, virusdetected,
///   contenterror, authfailure, requireptr, badreputation, norelaying, speeding, exceedlimit,
///   mesgtoobig, notcompliantrfc, syntaxerror → Refused
/// - onhold, undefined → Not defined
/// - vacation → autoReply; feedback → complaint; delivered → delivered
///
/// ## How a timeout counts
/// A `timeout` has two sides: the outcome (the MTA gave up when the message's lifetime ran out) and
/// the cause it carries (the last soft error, domain.md §4). Decision: against a row whose Sisimai
/// reason is `expired` (the outcome, compared as Unreachable) a timeout **agrees, whatever reason it
/// carries**; against any other row (Sisimai then names the cause, e.g. `requireptr` for a message
/// that expired after repeated `450 4.7.1 … IP name lookup failed`) it is compared by **the reason
/// it carries**. `bounce`/`retry` events compare by their failure reason; `delivered`, `autoReply`
/// and `complaint` by their kind. Rows of a file that failed to read, or with fewer events than
/// expected, are `missing` and count as disagreements in both figures.
///
/// The comparison itself is `DSNEvaluation` (LedgerIngest), shared with the corpus test.

import DeliveryLedger
import Foundation
import LedgerIngest

// MARK: Child mode: read one file, print its events.

/// Output lines of `--single`: `E` kind type reason qualifier recipient response (tabs and
/// line breaks in fields replaced by spaces), `X` error, `S` skipped-name count.
func runSingle(_ path: String) -> Int32 {
    guard let data = FileManager.default.contents(atPath: path) else {
        print("X\tcannot read \(path)")
        return 3
    }
    func clean(_ s: String) -> String {
        String(s.prefix(2000).map { $0 == "\t" || $0 == "\n" || $0 == "\r" ? " " : $0 })
    }
    do {
        let parsed = try DSNReader.read(Array(data), file: (path as NSString).lastPathComponent, options: DSNOptions(delivery: "corpus"))
        for e in parsed.events {
            let fields = [e.kind.rawValue, e.qualification?.type.rawValue ?? "", e.qualification?.reason.rawValue ?? "",
                          e.qualifier ?? "", e.recipient, e.enhancedStatus ?? "", e.smtpCode.map(String.init) ?? "", clean(e.response ?? "")]
            print("E\t" + fields.joined(separator: "\t"))
        }
        for (k, v) in parsed.skipped.sorted(by: { $0.key < $1.key }) { print("S\t\(clean(k))\t\(v)") }
        return 0
    } catch {
        print("X\t\(clean(error.description))")
        return 3
    }
}

/// Rebuilds events from `--single` output (only the fields the comparison uses).
func parseSingleOutput(_ text: String) -> DSNEvaluation.FileOutcome {
    var outcome = DSNEvaluation.FileOutcome()
    for line in text.split(separator: "\n") {
        let c = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        if c.first == "X" { outcome.error = c.count > 1 ? c[1] : "error"; continue }
        guard c.first == "E", c.count >= 9, let kind = EventKind(rawValue: c[1]) else { continue }
        var q: Qualification? = nil
        if let t = FailureType(rawValue: c[2]), let r = FailureReason(rawValue: c[3]) { q = Qualification(t, r) }
        outcome.events.append(Event(id: "x", kind: kind, delivery: "corpus", recipient: c[5],
                                    occurredAt: Instant(millisecondsSinceEpoch: 0), enhancedStatus: c[6].isEmpty ? nil : c[6],
                                    response: c[8], qualification: q, qualifier: c[4].isEmpty ? nil : c[4], source: .dsn))
    }
    return outcome
}

// MARK: Parent mode.

struct Arguments {
    var corpus: String?
    var verbose = false
    var timeout: Double = 10
    var single: String?
    var jobs = ProcessInfo.processInfo.activeProcessorCount
}

func parseArguments() -> Arguments {
    var a = Arguments()
    var args = CommandLine.arguments.dropFirst()[...]
    while let arg = args.popFirst() {
        switch arg {
        case "--corpus": a.corpus = args.popFirst()
        case "--verbose", "-v": a.verbose = true
        case "--timeout": a.timeout = args.popFirst().flatMap(Double.init) ?? a.timeout
        case "--single": a.single = args.popFirst()
        case "--jobs", "-j": a.jobs = args.popFirst().flatMap(Int.init) ?? a.jobs
        case "--help", "-h":
            print("usage: qualify-eval [--corpus DIR] [--verbose] [--timeout SECONDS] [--jobs N]")
            exit(0)
        default:
            FileHandle.standardError.write(Data("qualify-eval: unknown argument \(arg)\n".utf8))
            exit(2)
        }
    }
    return a
}

/// The corpus folder: as given, else `../shared/corpus/sisimai` from the current directory, else from
/// the package root found from this file's path.
func corpusFolder(_ given: String?) -> String? {
    let fm = FileManager.default
    if let g = given { return fm.fileExists(atPath: g + "/expectations.tsv") ? g : nil }
    let fromCwd = fm.currentDirectoryPath + "/../shared/corpus/sisimai"
    if fm.fileExists(atPath: fromCwd + "/expectations.tsv") { return fromCwd }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let fromSource = root.deletingLastPathComponent().appendingPathComponent("shared/corpus/sisimai").path
    if fm.fileExists(atPath: fromSource + "/expectations.tsv") { return fromSource }
    return nil
}

func selfExecutable() -> String {
    if let p = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return p }
    return CommandLine.arguments[0]
}

/// Reads one file in a child process with a time limit.
func readInChild(_ path: String, executable: String, timeout: Double) -> DSNEvaluation.FileOutcome {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = ["--single", path]
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    do { try process.run() } catch {
        return DSNEvaluation.FileOutcome(error: "cannot start the child process: \(error)", crashed: true)
    }
    // Drain the pipe on another thread so a large output cannot block the child.
    final class Box: @unchecked Sendable { var data = Data() }  // written by the thread, read after readerDone
    let box = Box()
    let readerDone = DispatchSemaphore(value: 0)
    let handle = pipe.fileHandleForReading
    Thread {
        box.data = handle.readDataToEndOfFile()
        readerDone.signal()
    }.start()
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning, Date() < deadline { usleep(2000) }
    if process.isRunning {
        process.terminate()
        usleep(100_000)
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        _ = readerDone.wait(timeout: .now() + 2)
        return DSNEvaluation.FileOutcome(error: "hang: no answer within \(timeout) s", crashed: true)
    }
    process.waitUntilExit()
    _ = readerDone.wait(timeout: .now() + 5)
    let text = String(decoding: box.data, as: UTF8.self)
    if process.terminationReason == .uncaughtSignal || (process.terminationStatus != 0 && process.terminationStatus != 3) {
        return DSNEvaluation.FileOutcome(error: "crash: \(process.terminationReason == .uncaughtSignal ? "signal" : "exit status") \(process.terminationStatus)", crashed: true)
    }
    return parseSingleOutput(text)
}

let arguments = parseArguments()
if let single = arguments.single { exit(runSingle(single)) }

guard let corpus = corpusFolder(arguments.corpus) else {
    FileHandle.standardError.write(Data("qualify-eval: corpus not found (expected \(arguments.corpus ?? "../shared/corpus/sisimai") with emails/ and expectations.tsv)\n".utf8))
    exit(1)
}
let tsv = (try? String(contentsOfFile: corpus + "/expectations.tsv", encoding: .utf8)) ?? ""
let expectations = DSNEvaluation.expectations(tsv: tsv)
let emailFolder = corpus + "/emails"
let files = ((try? FileManager.default.contentsOfDirectory(atPath: emailFolder)) ?? []).filter { $0.hasSuffix(".eml") }.sorted()
let executable = selfExecutable()
final class Results: @unchecked Sendable {  // guarded by `lock`
    let lock = NSLock()
    var outcomes: [String: DSNEvaluation.FileOutcome] = [:]
}
let results = Results()
let started = Date()
let jobs = max(1, min(arguments.jobs, files.count))
DispatchQueue.concurrentPerform(iterations: jobs) { worker in
    var n = worker
    while n < files.count {
        let outcome = readInChild(emailFolder + "/" + files[n], executable: executable, timeout: arguments.timeout)
        results.lock.lock()
        results.outcomes[files[n]] = outcome
        results.lock.unlock()
        n += jobs
    }
}
let outcomes = results.outcomes
let report = DSNEvaluation.compare(expectations, outcomes: outcomes)
print("qualify-eval: corpus \(corpus) (\(files.count) emails, \(expectations.count) expected rows), rule table \(RuleTable.builtIn.version), \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
print(report.summary(verbose: arguments.verbose))
exit(report.crashes.isEmpty ? 0 : 1)
