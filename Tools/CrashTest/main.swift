import DeliveryLedger
import Foundation
import LedgerWorkload
#if canImport(Glibc)
import Glibc
#endif

// `ledger-crash-test` (issue "The projection behind the log" §7): kills a process that writes a
// ledger with SIGKILL at random moments — during appends, during checkpoints, during
// re-projections — then reopens the ledger and checks that
//   1. every append that returned (the child printed "ack K" after `append` returned) is there,
//   2. no append is there in part (the batch in flight is there whole or not at all),
//   3. `verify` passes, and
//   4. the KPIs equal a fresh fold of the log (a re-projection from scratch gives the same KPIs).
// Usage: ledger-crash-test [--kills N] [--seed S] [--dir PATH]   (defaults: 100 kills, seed 1, a temp dir)
// Exit status 0 when every check held, 1 otherwise; a summary line with the counts is printed.

/// Batch `k` of the deterministic workload: 300 events — new messages of batch k, outcomes for
/// messages of earlier batches (existing streams), and a few events re-sent from batch k − 1.
func batch(_ k: Int) -> [Event] {
    let t0: Int64 = 1_800_000_000_000
    func at(_ minutes: Int) -> Instant { Instant(millisecondsSinceEpoch: t0 + Int64(minutes) * 60_000) }
    let delivery = "crash-\(k % 3)"
    var events: [Event] = []
    for i in 0..<150 {
        events.append(Event(id: "relay-\(k)-\(i)", kind: .relay, delivery: delivery, recipient: "r\(k)-\(i)@example.com", occurredAt: at(k)))
    }
    if k > 0 {
        let prior = k - 1
        let priorDelivery = "crash-\(prior % 3)"
        for i in 0..<150 {
            let r = "r\(prior)-\(i)@example.com"
            switch i % 5 {
            case 0, 1, 2:
                events.append(Event(id: "delivered-\(prior)-\(i)", kind: .delivered, delivery: priorDelivery, recipient: r, occurredAt: at(k + 1), smtpCode: 250))
            case 3:
                events.append(Event(id: "hard-\(prior)-\(i)", kind: .bounce, delivery: priorDelivery, recipient: r, occurredAt: at(k + 2),
                                    final: true, inBand: true, bounceClass: 10, smtpCode: 550, enhancedStatus: "5.1.1",
                                    response: "550 5.1.1 user unknown", qualification: Qualification(.hard, .userUnknown)))
            default:
                events.append(Event(id: "retry-\(prior)-\(i)", kind: .retry, delivery: priorDelivery, recipient: r, occurredAt: at(k + 1),
                                    final: false, smtpCode: 452, enhancedStatus: "4.2.2", response: "452 4.2.2 mailbox full",
                                    qualification: Qualification(.soft, .mailboxFull)))
            }
        }
        // Re-sent (duplicates of the previous batch's relays): no-ops.
        for i in 0..<10 {
            events.append(Event(id: "relay-\(prior)-\(i)", kind: .relay, delivery: priorDelivery, recipient: "r\(prior)-\(i)@example.com", occurredAt: at(prior)))
        }
    }
    // Raw source bytes (a webhook-like document per event), so that children train and use the
    // raw-bytes dictionary (``LedgerOptions/rawDictionaryTrainingSamples`` is 200 in the child):
    // kills land in appends that train one too.
    for i in events.indices {
        events[i].source = .sparkpost
        events[i].raw = Array(#"{"msys":{"message_event":{"type":"\#(events[i].kind)","event_id":"\#(events[i].id)","campaign_id":"\#(events[i].delivery)","rcpt_to":"\#(events[i].recipient)","timestamp":"\#(events[i].occurredAt.millisecondsSinceEpoch / 1000)"}}}"#.utf8)
    }
    return events
}

/// The writing child: appends batches from `first` on, printing "ack K" after each append returns.
/// Mode 0: appends (checkpoints by the default policy); 1: a checkpoint after every append; 2: a
/// re-projection after every other append.
func child(dir: String, first: Int, mode: Int) -> Never {
    var options = LedgerOptions()
    options.checkpointRecords = mode == 1 ? 1 : 250_000
    options.rawDictionaryTrainingSamples = 200
    do {
        let ledger = try Ledger(path: dir, options: options)
        var k = first
        while true {
            try ledger.append(batch(k))
            FileHandle.standardOutput.write(Data("ack \(k)\n".utf8))  // unbuffered: the ack is out when append returned
            if mode == 2, k % 2 == 0 { try ledger.rebuildProjection() }
            k += 1
        }
    } catch {
        FileHandle.standardError.write(Data("child: \(error)\n".utf8))
        exit(3)
    }
}

struct Options {
    var kills = 100, seed: UInt64 = 1, dir: String?
    var childDir: String?, childFirst = 0, childMode = 0
}

var o = Options()
var args = CommandLine.arguments.dropFirst()[...]
while let a = args.popFirst() {
    switch a {
    case "--kills": o.kills = Int(args.popFirst() ?? "") ?? -1
    case "--seed": o.seed = UInt64(args.popFirst() ?? "") ?? 1
    case "--dir": o.dir = args.popFirst()
    case "--child": o.childDir = args.popFirst(); o.childFirst = Int(args.popFirst() ?? "") ?? 0; o.childMode = Int(args.popFirst() ?? "") ?? 0
    case "--help", "-h":
        print("usage: ledger-crash-test [--kills N] [--seed S] [--dir PATH]")
        exit(0)
    default:
        FileHandle.standardError.write(Data("ledger-crash-test: unknown argument '\(a)' (see --help)\n".utf8))
        exit(2)
    }
}
if let d = o.childDir { child(dir: d, first: o.childFirst, mode: o.childMode) }
guard o.kills >= 1 else { FileHandle.standardError.write(Data("ledger-crash-test: --kills takes a count ≥ 1\n".utf8)); exit(2) }

let dir = o.dir ?? (NSTemporaryDirectory() + "ledger-crash-test-\(getpid()).lmdb")
try? FileManager.default.removeItem(atPath: dir)
var rng = SplitMix64(seed: o.seed)
let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
var next = 0          // the next batch to append
var lost = 0, partial = 0, verifyFailures = 0, kpiMismatches = 0, childFailures = 0, killsDone = 0
var inFlightWhole = 0, inFlightAbsent = 0
let modes = ["appends (checkpoints by policy)", "appends each followed by a checkpoint", "appends and re-projections"]
var killsByMode = [0, 0, 0]

func kpis(_ ledger: Ledger) throws -> [DeliveryKPIs] {
    try ledger.deliveries().compactMap { try ledger.kpis(delivery: $0, semantics: .efs) }
}

for round in 0..<o.kills {
    let mode = round % 3
    let p = Process()
    p.executableURL = URL(fileURLWithPath: me)
    p.arguments = ["--child", dir, "\(next)", "\(mode)"]
    let pipe = Pipe()
    p.standardOutput = pipe
    try p.run()
    // Kill after a random delay: long enough, most times, for a few appends to return.
    usleep(UInt32.random(in: 20_000...400_000, using: &rng))
    kill(p.processIdentifier, SIGKILL)
    p.waitUntilExit()
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let acked = output.split(separator: "\n").compactMap { $0.hasPrefix("ack ") ? Int($0.dropFirst(4)) : nil }
    if p.terminationReason != .uncaughtSignal { childFailures += 1 }
    killsDone += 1
    killsByMode[mode] += 1
    do {
        let ledger = try Ledger(path: dir)
        // 1. Every acknowledged batch is there: appending it again appends nothing.
        for k in acked {
            if try ledger.append(batch(k)).appended != 0 { lost += 1 }
        }
        let inFlight = (acked.last ?? next - 1) + 1
        // 2. The batch in flight is there whole or not at all.
        let b = batch(inFlight)
        let fresh = try ledger.append(b)
        let expectedNew = Set(b.map { "\($0.delivery)/\($0.recipient)/\($0.id)" }).count - (inFlight > 0 ? 10 : 0)
        if fresh.appended == 0 { inFlightWhole += 1 } else if fresh.appended == expectedNew { inFlightAbsent += 1 } else { partial += 1 }
        next = inFlight + 1
        // 3. verify; 4. KPIs = a fresh fold of the log.
        if !(try ledger.verify().isHealthy) { verifyFailures += 1 }
        let before = try kpis(ledger)
        try ledger.rebuildProjection()
        if try kpis(ledger) != before { kpiMismatches += 1 }
    } catch {
        print("round \(round): reopening or checking failed: \(error)")
        verifyFailures += 1
    }
}
let ledger = try Ledger(path: dir)
let records = try ledger.basis().position
try? FileManager.default.removeItem(atPath: dir)
let ok = lost == 0 && partial == 0 && verifyFailures == 0 && kpiMismatches == 0 && childFailures == 0
print("""
ledger-crash-test: \(killsDone) SIGKILLs (\(zip(modes, killsByMode).map { "\($1) in runs of \($0)" }.joined(separator: ", "))), \
\(next) batches, \(records) records; batch in flight found whole \(inFlightWhole)×, absent \(inFlightAbsent)×; \
acknowledged batches lost: \(lost), partial appends: \(partial), verify failures: \(verifyFailures), \
KPI mismatches with a fresh fold: \(kpiMismatches), children that did not die by the kill: \(childFailures)
""")
exit(ok ? 0 : 1)
