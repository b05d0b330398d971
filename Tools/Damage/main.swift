// ledger-damage: makes damaged copies of a ledger (seeded) and runs every `ledger` command on each,
// counting how each ended (issue 12). Usage:
//   ledger-damage --ledger-binary PATH --source LEDGER_DIR --input FEED --work DIR [--copies N] [--seed S]
//                 [--only N] [--keep]   (--only: just copy N, its damage as in the full run; --keep: leave the copies)
// Damage kinds, in turn: byte flips at random offsets (1 byte, or 16 bytes at random offsets),
// truncations (at a random page boundary, mid-page, to one page), an emptied data.mdb, a removed
// data.mdb, swapped meta pages, a zeroed page, 4 bytes overwritten in one meta page's header, one
// table's record in LMDB's table directory changed (root, flags, depth, entries), the newest meta
// page's transaction id lowered by two. Each
// copy is a fresh copy of the source's data.mdb. For each copy: every read command, then backup, then
// ingest, reproject, sweep and repair (writers, each on its own fresh copy of the damaged copy); a
// repair that says it mended a meta page must leave a ledger that verify passes (it runs verify). An outcome is: exit 0, an error naming the ledger, an
// error not naming it, or a signal. "Appended to a damaged ledger" counts an ingest that exited 0 on
// a copy whose damage `verify` (run first) or the open reported. A run over 120 s is killed and counted
// as hung. Exit status 1 when any command ended by a signal, hung, or failed without naming the ledger.
import Foundation

struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
}

enum Damage: CaseIterable {
    case flipByte, flipMany, truncatePage, truncateMidPage, truncateToOnePage, emptied, removed, swappedMeta, zeroedPage, metaPageHeader,
         tableRecord, metaTransaction
}

func u16(_ d: Data, _ at: Int) -> Int { Int(d[d.startIndex + at]) | Int(d[d.startIndex + at + 1]) << 8 }
func u64(_ d: Data, _ at: Int) -> UInt64 { (0..<8).reduce(UInt64(0)) { $0 | UInt64(d[d.startIndex + at + $1]) << (8 * UInt64($1)) } }
func put64(_ d: inout Data, _ value: UInt64, at: Int) { for i in 0..<8 { d[d.startIndex + at + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) } }

func argument(_ name: String) -> String? {
    let args = CommandLine.arguments
    guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
    return args[i + 1]
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("ledger-damage: \(message)\n".utf8))
    exit(2)
}

guard let binary = argument("--ledger-binary"), let source = argument("--source"), let input = argument("--input"),
      let work = argument("--work") else {
    fail("usage: ledger-damage --ledger-binary PATH --source LEDGER_DIR --input FEED --work DIR [--copies N] [--seed S]")
}
let copies = Int(argument("--copies") ?? "100") ?? 100
var rng = SplitMix64(state: UInt64(argument("--seed") ?? "1") ?? 1)
let fm = FileManager.default
guard let original = fm.contents(atPath: source + "/data.mdb") else { fail("cannot read \(source)/data.mdb") }
let pageSize = 4096
try? fm.createDirectory(atPath: work, withIntermediateDirectories: true)

struct Outcome { var ok = 0, named = 0, unnamed = 0, signals = 0, hung = 0 }
var outcomes: [String: Outcome] = [:]
var problems: [String] = []
var appendedToDamaged = 0, appendedToCleanDamage = 0, ingestRefused = 0, verifyFlagged = 0, copiesMade = 0
var mended = 0, mendedPositions: [Int] = []
var unflagged: [String] = []  // copies verify passed: the damage was in bytes nothing reads
var kindCounts: [String: Int] = [:]

/// Runs the ledger; a run that takes longer than `timeout` seconds is killed and counted as hung.
@MainActor func run(_ arguments: [String], timeout: Double = 120) -> (status: Int32, signal: Bool, output: String, error: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: binary)
    p.arguments = arguments
    let outPath = work + "/.out", errPath = work + "/.err"
    _ = fm.createFile(atPath: outPath, contents: nil)
    _ = fm.createFile(atPath: errPath, contents: nil)
    guard let out = FileHandle(forWritingAtPath: outPath), let err = FileHandle(forWritingAtPath: errPath) else { fail("cannot write in \(work)") }
    p.standardOutput = out
    p.standardError = err
    do { try p.run() } catch { fail("cannot run \(binary): \(error)") }
    let started = Date()
    while p.isRunning {
        if Date().timeIntervalSince(started) > timeout {
            p.terminate()
            p.waitUntilExit()
            try? out.close(); try? err.close()
            return (-1, false, "", "HUNG: killed after \(Int(timeout)) s")
        }
        usleep(20_000)
    }
    p.waitUntilExit()
    try? out.close(); try? err.close()
    let o = fm.contents(atPath: outPath) ?? Data(), e = fm.contents(atPath: errPath) ?? Data()
    return (p.terminationStatus, p.terminationReason == .uncaughtSignal, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

@MainActor func damaged(_ kind: Damage) -> (data: Data?, what: String) {
    var d = original
    switch kind {
    case .flipByte:
        let at = rng.below(d.count)
        d[at] ^= UInt8(1 + rng.below(255))
        return (d, "byte flip at \(at)")
    case .flipMany:
        var at: [Int] = []
        for _ in 0..<16 { let o = rng.below(d.count); at.append(o); d[o] ^= UInt8(1 + rng.below(255)) }
        return (d, "16 byte flips at \(at.sorted())")
    case .truncatePage:
        let pages = d.count / pageSize
        let keep = 2 + rng.below(max(pages - 2, 1))
        return (d.prefix(keep * pageSize), "truncated to \(keep) pages")
    case .truncateMidPage:
        let keep = rng.below(d.count)
        return (d.prefix(keep), "truncated to \(keep) bytes")
    case .truncateToOnePage:
        return (d.prefix(pageSize), "truncated to one page")
    case .emptied:
        return (Data(), "emptied")
    case .removed:
        return (nil, "data.mdb removed")
    case .swappedMeta:
        let a = d[0..<pageSize], b = d[pageSize..<2 * pageSize]
        d.replaceSubrange(0..<pageSize, with: b)
        d.replaceSubrange(pageSize..<2 * pageSize, with: a)
        return (d, "meta pages swapped")
    case .zeroedPage:
        let page = 2 + rng.below(max(d.count / pageSize - 2, 1))
        d.replaceSubrange(page * pageSize..<min((page + 1) * pageSize, d.count), with: Data(count: min(pageSize, d.count - page * pageSize)))
        return (d, "page \(page) zeroed")
    case .metaPageHeader:
        // 4 bytes of one meta page, at a field LMDB needs — its page number (0), flags (8), magic
        // (16), version (20), page size (40), transaction id (144) — or, one time in three, anywhere
        // in its first 152 bytes (the trees' statistics among them, which nothing reads): a torn or
        // overwritten meta page.
        let fields = [0, 8, 16, 20, 40, 144]
        let page = rng.below(2), offset = rng.below(3) == 0 ? rng.below(149) : fields[rng.below(fields.count)]
        let at = page * pageSize + offset
        for i in 0..<4 { d[at + i] ^= UInt8(1 + rng.below(255)) }
        return (d, "meta page \(page): 4 bytes overwritten at byte \(offset)")
    case .tableRecord:
        // One table's record in LMDB's table directory (the main database's leaf: node header of 8
        // bytes, the name, then MDB_db — flags at 4, depth at 6, entries at 32, root at 40): its root
        // pointed at another table's root or past the last page, its MDB_DUPSORT bit set, its depth
        // or entry count changed. LMDB trusts every one of these.
        let newest = u64(d, 144) > u64(d, pageSize + 144) ? 0 : 1
        let lastPage = u64(d, newest * pageSize + 136)
        let page = Int(u64(d, newest * pageSize + 128)) * pageSize
        guard page > 0, page + pageSize <= d.count, u16(d, page + 10) & 0x02 != 0 else { return (d, "table record: the main database is not one leaf page (left sound)") }
        let records = stride(from: page + 16, to: page + u16(d, page + 12), by: 2).map { slot -> (name: String, at: Int) in
            let node = page + u16(d, slot), size = u16(d, node + 6)
            return (String(decoding: d[(d.startIndex + node + 8)..<(d.startIndex + node + 8 + size)], as: UTF8.self), node + 8 + size)
        }
        let withRoot = records.filter { u64(d, $0.at + 40) != ~0 }
        guard let target = withRoot.isEmpty ? nil : withRoot[rng.below(withRoot.count)] else { return (d, "table record: no table has a root (left sound)") }
        switch rng.below(5) {
        case 0:
            let other = withRoot[rng.below(withRoot.count)]
            put64(&d, u64(d, other.at + 40), at: target.at + 40)
            return (d, "table \(target.name): root pointed at table \(other.name)'s root")
        case 1:
            put64(&d, lastPage + 1 + UInt64(rng.below(1000)), at: target.at + 40)
            return (d, "table \(target.name): root past the last page")
        case 2:
            d[d.startIndex + target.at + 4] |= 0x04
            return (d, "table \(target.name): MDB_DUPSORT bit set")
        case 3:
            d[d.startIndex + target.at + 6] &+= 1
            return (d, "table \(target.name): depth + 1")
        default:
            put64(&d, u64(d, target.at + 32) &+ 1, at: target.at + 32)
            return (d, "table \(target.name): entry count + 1")
        }
    case .metaTransaction:
        // The newest meta page's transaction id lowered by two: still consecutive with the other's
        // and in its page, and LMDB would open the commit before without a word.
        let newest = u64(d, 144) > u64(d, pageSize + 144) ? 0 : 1
        let id = u64(d, newest * pageSize + 144)
        guard id >= 2 else { return (d, "meta transaction: id \(id) (left sound)") }
        put64(&d, id - 2, at: newest * pageSize + 144)
        return (d, "meta page \(newest): transaction id \(id) lowered to \(id - 2)")
    }
}

@MainActor func place(_ data: Data?, at dir: String) {
    try? fm.removeItem(atPath: dir)
    try? fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
    if let data { _ = fm.createFile(atPath: dir + "/data.mdb", contents: data) }
}

@MainActor func lastPosition(_ dir: String) -> Int? {
    let r = run(["project", "--format", "json", "--db", dir])
    guard r.status == 0, let doc = try? JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [String: Any],
          let basis = doc["basis"] as? [String: Any] else { return nil }
    return basis["position"] as? Int
}

let readCommands: [[String]] = [
    ["verify"], ["project"], ["project", "--format", "json", "--both"], ["status", "--delivery", "d1", "a@example.com"],
    ["history", "a@example.com"], ["address", "a@example.com"], ["quarantine"], ["efs", "history"],
]
let sourcePosition = lastPosition(source)

for n in 0..<copies {
    let kind = Damage.allCases[n % Damage.allCases.count]
    let (data, what) = damaged(kind)
    kindCounts["\(kind)", default: 0] += 1
    if let only = argument("--only").flatMap(Int.init), only != n { continue }  // the same damage, seed for seed
    let dir = "\(work)/copy-\(n)"
    place(data, at: dir)
    copiesMade += 1
    var flagged = false
    func record(_ name: String, _ r: (status: Int32, signal: Bool, output: String, error: String)) {
        var o = outcomes[name] ?? Outcome()
        if r.status == -1 {
            o.hung += 1
            problems.append("copy-\(n) (\(what)): \(name) hung (killed after the time limit)")
        } else if r.signal || r.status >= 128 {
            o.signals += 1
            problems.append("copy-\(n) (\(what)): \(name) ended by signal \(r.signal ? r.status : r.status - 128)")
        } else if r.status == 0 {
            o.ok += 1
        } else if r.error.contains(dir) {
            o.named += 1
        } else {
            o.unnamed += 1
            problems.append("copy-\(n) (\(what)): \(name) failed without naming the ledger: \(r.error.prefix(300))")
        }
        outcomes[name] = o
    }
    for command in readCommands {
        let r = run(command + ["--db", dir])
        record(command.joined(separator: " "), r)
        if command == ["verify"] && r.status != 0 { flagged = true }
    }
    if flagged { verifyFlagged += 1 } else { unflagged.append("copy-\(n) (\(what))") }
    try? fm.removeItem(atPath: dir + ".backup")
    record("backup", run(["backup", "--db", dir, dir + ".backup"]))
    try? fm.removeItem(atPath: dir + ".backup")
    // Writers, each on a fresh copy of the damaged copy.
    for command in [["ingest", input], ["reproject"], ["sweep"], ["repair"]] {
        place(data, at: dir)
        let r = run(command + ["--db", dir])
        record(command[0], r)
        if command[0] == "ingest" {
            if r.status == 0 {
                if flagged { appendedToDamaged += 1; problems.append("copy-\(n) (\(what)): ingest appended although verify reports damage") }
                else { appendedToCleanDamage += 1 }
            } else {
                ingestRefused += 1
            }
        }
        if command[0] == "repair", r.output.contains("mended from meta page") || r.output.contains("swapped back") {
            // repair ran verify on what it mended: exit 0 means verify passed.
            if r.status == 0 {
                mended += 1
                if let p = lastPosition(dir) { mendedPositions.append(p) }
            } else {
                problems.append("copy-\(n) (\(what)): repair mended the meta pages but verify then failed: \(r.error.prefix(300))")
            }
        }
    }
    if !CommandLine.arguments.contains("--keep") { try? fm.removeItem(atPath: dir) }
    else if let data { _ = fm.createFile(atPath: dir + ".damaged.mdb", contents: data) }  // the damaged bytes, before any writer
}

print("Damaged copies: \(copiesMade) (seed \(argument("--seed") ?? "1"); source at position \(sourcePosition.map(String.init) ?? "?"))")
print("  kinds: " + kindCounts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
print("  verify reported damage (or refused to open) on \(verifyFlagged); the other \(copiesMade - verifyFlagged) had damage in unused bytes"
      + (unflagged.isEmpty ? "" : ": " + unflagged.joined(separator: "; ")))
print(String(format: "%-36@ %6@ %14@ %16@ %8@ %6@", "command" as NSString, "exit 0" as NSString, "error (named)" as NSString, "error (unnamed)" as NSString, "signal" as NSString, "hung" as NSString))
var totalRuns = 0, totalSignals = 0, totalUnnamed = 0, totalHung = 0
for (name, o) in outcomes.sorted(by: { $0.key < $1.key }) {
    totalRuns += o.ok + o.named + o.unnamed + o.signals + o.hung
    totalSignals += o.signals
    totalUnnamed += o.unnamed
    totalHung += o.hung
    print(String(format: "%-36@ %6d %14d %16d %8d %6d", name as NSString, o.ok, o.named, o.unnamed, o.signals, o.hung))
}
print("Runs: \(totalRuns); ended by a signal: \(totalSignals); errors not naming the ledger: \(totalUnnamed); hung: \(totalHung)")
print("Ingest: refused on \(ingestRefused) copies; appended on \(appendedToCleanDamage) whose damage verify did not see; "
      + "appended on \(appendedToDamaged) that verify reports damaged")
print("Repair: mended the meta pages of \(mended) copies, each then verified"
      + (mendedPositions.isEmpty ? "" : " (their logs end at positions \(Set(mendedPositions).sorted().map(String.init).joined(separator: ", ")); the source's at \(sourcePosition.map(String.init) ?? "?"))"))
for p in problems.prefix(40) { print("  " + p) }
exit(totalSignals == 0 && totalUnnamed == 0 && totalHung == 0 && !problems.contains { $0.contains("repair mended") } ? 0 : 1)
