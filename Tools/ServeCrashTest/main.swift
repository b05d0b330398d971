import DeliveryLedger
import Foundation
import LedgerTestSupport
import LedgerWorkload
#if canImport(Glibc)
import Glibc
#endif

// `ledger-serve-crash-test` (issue #13, "Nothing acknowledged is lost"): runs `ledger serve` on
// loopback, has several concurrent clients POST SparkPost webhook batches to it, and SIGKILLs the
// server at a random moment, again and again (clients resend the batches that got no answer, as
// SparkPost does); then opens the ledger and checks that
//   1. every batch that was answered 200 is in the ledger, whole (each of its events is recorded);
//   2. no batch is there in part (a batch in flight at the kill is there whole or not at all);
//   3. `verify` passes (hash chain, indexes, projection against the log).
// Usage: ledger-serve-crash-test --ledger PATH_TO_ledger [--kills N] [--clients C] [--events E] [--seed S]
// Exit status 0 when every check held, 1 otherwise. Bounded: each round lasts at most ~1.5 s.

let arguments = Array(CommandLine.arguments.dropFirst())
func option(_ name: String, _ defaultValue: Int) -> Int {
    guard let i = arguments.firstIndex(of: name), i + 1 < arguments.count, let v = Int(arguments[i + 1]) else { return defaultValue }
    return v
}
guard let ledgerIndex = arguments.firstIndex(of: "--ledger"), ledgerIndex + 1 < arguments.count else {
    FileHandle.standardError.write(Data("usage: ledger-serve-crash-test --ledger PATH_TO_ledger [--kills N] [--clients C] [--events E] [--seed S]\n".utf8))
    exit(2)
}
let ledgerBinary = arguments[ledgerIndex + 1]
let kills = option("--kills", 20)
let clients = option("--clients", 4)
let eventsPerBatch = option("--events", 200)
var rng = SplitMix64(seed: UInt64(option("--seed", 1)))

/// Batch `b`: `events` injection events, each its own recipient, event ids `b<b>-<i>`.
struct Batches: Sendable {
    let events: Int
    func body(_ b: Int) -> [UInt8] {
    var text = "["
    for i in 0..<events {
        if i > 0 { text += "," }
        text += #"{"msys":{"message_event":{"type":"injection","event_id":"b\#(b)-\#(i)","campaign_id":"crash","rcpt_to":"b\#(b)-\#(i)@example.com","timestamp":"\#(1_800_000_000 + b)"}}}"#
    }
    return Array((text + "]").utf8)
    }
}
let batches = Batches(events: eventsPerBatch)

/// Shared state of the clients: the next batch number, batches to resend, batches acknowledged.
final class Book: @unchecked Sendable {
    // Invariant: every field is read and written under `lock`.
    private let lock = NSLock()
    private var next = 0
    private var resend: [Int] = []
    private(set) var acknowledged = Set<Int>()
    private(set) var sent = Set<Int>()
    private(set) var unanswered = 0

    func take() -> Int {
        lock.lock(); defer { lock.unlock() }
        if let b = resend.popLast() { return b }
        next += 1
        sent.insert(next)
        return next
    }
    func ack(_ b: Int) { lock.lock(); acknowledged.insert(b); lock.unlock() }
    func failed(_ b: Int) { lock.lock(); unanswered += 1; if !acknowledged.contains(b) { resend.append(b) }; lock.unlock() }
    var snapshot: (acknowledged: Set<Int>, sent: Set<Int>) { lock.lock(); defer { lock.unlock() }; return (acknowledged, sent) }
}

/// A flag set once, read by several threads.
final class Flag: @unchecked Sendable {
    // Invariant: `value` is read and written under `lock`.
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    func set() { lock.lock(); value = true; lock.unlock() }
}

let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-serve-crash-\(getpid())").path
try? FileManager.default.removeItem(atPath: directory)
try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
let db = directory + "/ledger.lmdb"
let book = Book()
var answered200 = 0

/// Starts `ledger serve` on a system-chosen port; returns the process and the port (read from its log).
func startServer() throws -> (Process, Int) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: ledgerBinary)
    p.arguments = ["serve", "--db", db, "--insecure-no-auth", "--listen", "127.0.0.1:0", "--log-level", "notice"]
    let err = Pipe()
    p.standardError = err
    p.standardOutput = FileHandle.nullDevice
    try p.run()
    var log = ""
    let deadline = Date().addingTimeInterval(30)
    while Date() < deadline {
        let chunk = err.fileHandleForReading.availableData
        if chunk.isEmpty { break }
        log += String(decoding: chunk, as: UTF8.self)
        if let r = log.range(of: "listening on http://127.0.0.1:"), let end = log[r.upperBound...].firstIndex(where: { !$0.isNumber }),
           let port = Int(log[r.upperBound..<end]) {
            // Keep draining the log so the server never blocks on a full pipe.
            Thread { while !err.fileHandleForReading.availableData.isEmpty {} }.start()
            return (p, port)
        }
    }
    p.terminate()
    throw LoopbackHTTP.Failure(description: "ledger serve did not start: \(log)")
}

var failures: [String] = []
for round in 1...kills {
    let (server, port) = try startServer()
    let stop = DispatchTime.now() + .milliseconds(Int(50 + rng.next() % 900))
    let group = DispatchGroup()
    let stopping = Flag()
    for _ in 0..<clients {
        group.enter()
        Thread {
            defer { group.leave() }
            while true {
                if stopping.isSet { return }
                let b = book.take()
                do {
                    let reply = try LoopbackHTTP.request(port: port, method: "POST", path: "/webhooks/sparkpost",
                                                         headers: [("Content-Type", "application/json")], body: batches.body(b), timeoutSeconds: 10)
                    if reply.status == 200 { book.ack(b) } else { book.failed(b) }
                } catch {
                    book.failed(b)
                    return
                }
            }
        }.start()
    }
    DispatchQueue.global().asyncAfter(deadline: stop) { kill(server.processIdentifier, SIGKILL) }
    server.waitUntilExit()
    stopping.set()
    group.wait()
    if server.terminationReason != .uncaughtSignal {
        failures.append("round \(round): the server ended by itself (status \(server.terminationStatus))")
    }
}

// A last clean run delivers the batches still waiting to be resent, then SIGTERM: exit status 0.
do {
    let (server, port) = try startServer()
    var pending: [Int] = []
    let (acked, sent) = book.snapshot
    pending = sent.subtracting(acked).sorted()
    for b in pending {
        let reply = try LoopbackHTTP.request(port: port, method: "POST", path: "/webhooks/sparkpost", body: batches.body(b))
        if reply.status == 200 { book.ack(b) } else { failures.append("batch \(b): resend answered \(reply.status)") }
    }
    kill(server.processIdentifier, SIGTERM)
    server.waitUntilExit()
    if server.terminationReason != .exit || server.terminationStatus != 0 {
        failures.append("SIGTERM: the server ended with \(server.terminationReason == .exit ? "status" : "signal") \(server.terminationStatus), not status 0")
    }
}

// SIGINT and SIGHUP (a closed terminal) stop it as cleanly: exit status 0, never the signal.
for (signal, name) in [(SIGINT, "SIGINT"), (SIGHUP, "SIGHUP")] {
    let (server, port) = try startServer()
    let reply = try LoopbackHTTP.request(port: port, method: "GET", path: "/readyz")
    if reply.status != 200 { failures.append("\(name) run: /readyz answered \(reply.status)") }
    kill(server.processIdentifier, signal)
    server.waitUntilExit()
    if server.terminationReason != .exit || server.terminationStatus != 0 {
        failures.append("\(name): the server ended with \(server.terminationReason == .exit ? "status" : "signal") \(server.terminationStatus), not status 0")
    }
}

// The checks.
let ledger = try Ledger(path: db)
let (acked, sent) = book.snapshot
var partial = 0
for b in sent.sorted() {
    var present = 0
    for i in 0..<eventsPerBatch {
        let events = try ledger.events(delivery: "crash", recipient: "b\(b)-\(i)@example.com")
        if events.contains(where: { $0.event.id == "sparkpost:injection:b\(b)-\(i)" }) { present += 1 }
    }
    if present != 0 && present != eventsPerBatch {
        partial += 1
        failures.append("batch \(b): \(present) of \(eventsPerBatch) events recorded (a batch in part)")
    } else if present == 0 && acked.contains(b) {
        failures.append("batch \(b): acknowledged with 200 but not in the ledger")
    }
}
let report = try ledger.verify()
if !report.isHealthy { failures.append("verify: \(report.problems.prefix(5))") }
let records = report.records
print("serve crash test: \(kills) SIGKILLs, \(clients) clients, \(eventsPerBatch)-event batches; \(sent.count) batches sent, \(book.unanswered) requests cut by a kill (resent later), \(acked.count) acknowledged (all present, whole), \(partial) in part, \(records) records, verify \(report.isHealthy ? "ok" : "FAILED")")
for f in failures.prefix(20) { print("FAIL: \(f)") }
try? FileManager.default.removeItem(atPath: directory)
exit(failures.isEmpty ? 0 : 1)
