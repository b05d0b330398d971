import ArgumentParser
import BenchBaselines
@_spi(Benchmark) import DeliveryLedger
import Foundation
import LedgerIngest
import LedgerWorkload

/// `Tools/bench`: the ledger against the raw limits of its storage (raw LMDB through its C API with
/// the same record bytes and index writes) and against SQLite, on the same generated events, in one
/// run. See README "Performance".
@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledger-bench",
        abstract: "Benchmark the ledger against raw LMDB and SQLite on the same generated events.")

    @Option(help: "Approximate number of events (e.g. 200k, 1M, 10M).") var events: String = "1M"
    @Option(help: "Working directory (stores, generated feed); removed and recreated.") var out: String = "Tools/out/bench"
    @Option(help: "Write the JSON report here (default: <out>/report.json).") var json: String?
    @Option(help: "The release `ledger` binary for the CLI ingest phase.") var ledgerBinary: String = ".build/release/ledger"
    @Option(help: "Status point queries to time.") var queries: Int = 20_000
    @Option(help: "Generator seed.") var seed: UInt64 = 7
    @Flag(help: "Skip the CLI ingest phase.") var skipCLI = false
    @Flag(help: "Stop after the library ingest (for profiling it; checkpoints by record count only, so that a profile does not depend on the clock).") var onlyIngest = false
    @Flag(help: "Commit without fsync (to see what the syncs cost; the goals are for durable commits).") var noSync = false
    @Option(help: .hidden) var readerDb: String?
    @Option(help: .hidden) var readerDelivery: String?
    @Option(help: .hidden) var readerOutput: String?
    @Option(help: .hidden) var readerStop: String?

    func run() throws {
        if let readerDb, let readerDelivery, let readerOutput, let readerStop {
            try ReaderProcess.run(db: readerDb, delivery: readerDelivery, output: readerOutput, stop: readerStop)
            return
        }
        let target = try Self.parseCount(events)
        let shape = Self.shape(events: target)
        var spec = WorkloadSpec()
        spec.deliveries = shape.deliveries
        spec.recipientsPerDelivery = shape.recipients
        spec.seed = seed
        spec.eventsPerBatch = 10_000
        try? FileManager.default.removeItem(atPath: out)
        do {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        } catch {
            // Name the cause: the nearest existing ancestor that is not a directory, else the OS's reason.
            var ancestor = (out as NSString).deletingLastPathComponent
            var isDirectory: ObjCBool = false
            while !ancestor.isEmpty, ancestor != "/", !FileManager.default.fileExists(atPath: ancestor, isDirectory: &isDirectory) {
                ancestor = (ancestor as NSString).deletingLastPathComponent
            }
            let cause = FileManager.default.fileExists(atPath: ancestor, isDirectory: &isDirectory) && !isDirectory.boolValue
                ? "'\(ancestor)' is a file, not a directory"
                : "\((error as NSError).localizedDescription) (\((error as NSError).userInfo[NSFilePathErrorKey] as? String ?? out))"
            throw ValidationError("--out '\(out)': cannot create the directory: \(cause)")
        }
        _ = FileManager.default.createFile(atPath: out + "/" + Self.marker, contents: Data("made by ledger-bench; removed by its next run\n".utf8))
        let workload = Workload(spec: spec)
        var report = Report(machine: Self.machine(), events: 0, deliveries: spec.deliveries, recipientsPerDelivery: spec.recipientsPerDelivery)
        let say: (String) -> Void = { FileHandle.standardError.write(Data(("bench: " + $0 + "\n").utf8)) }

        // 1. Bulk ingest through the library, durable, 10,000 events per append (one transaction each).
        let libraryPath = out + "/library.lmdb"
        var options = LedgerOptions()
        options.initialMapSize = 1 << 30
        options.durable = !noSync
        if onlyIngest { options.checkpointSeconds = .infinity }
        var ledger: Ledger? = try Ledger(path: libraryPath, options: options)
        let anonymousBefore = PeakMemory.anonymous()  // the generator's plan, the runner
        var appended = 0, appendSeconds = 0.0, appendCPU = 0.0, decodeSeconds = 0.0, peakAnonymous = anonymousBefore
        let declarations = try FeedReader.read(workload.deliveryDeclarationsJSONL(), file: "declarations", options: IngestOptions(format: .jsonl))
        try ledger!.append(declarations.events)
        // A reader in another process asks KPIs and statuses while the ingest appends.
        let readerOut = out + "/reader.json", readerStop = out + "/reader.stop"
        let reader = onlyIngest ? nil : try ReaderProcess.start(db: libraryPath, delivery: workload.deliveryIds[0], output: readerOut, stop: readerStop)
        PeakMemory.reset()
        try workload.forEachCanonicalBatch { bytes in
            let (parsed, d) = try timed { try FeedReader.read(bytes, file: "batch", options: IngestOptions(format: .jsonl)) }
            decodeSeconds += d
            let cpu0 = threadCPU()
            let (result, s) = try timed { try ledger!.append(parsed.events) }
            appendCPU += threadCPU() - cpu0
            appendSeconds += s
            appended += result.appended
            peakAnonymous = max(peakAnonymous, PeakMemory.anonymous())
        }
        let ingestRSS = PeakMemory.read()
        if let reader {
            _ = FileManager.default.createFile(atPath: readerStop, contents: Data())
            reader.waitUntilExit()
        }
        let (_, finalCheckpoint) = try timed { try ledger!.checkpoint() }
        say("library ingest: \(appended) events appended in \(String(format: "%.2f", appendSeconds)) s, \(String(format: "%.2f", appendCPU)) s of CPU (decoding JSONL apart: \(String(format: "%.2f", decodeSeconds)) s)")

        if onlyIngest {
            print("library ingest: \(appended) events, \(Int(Double(appended) / appendSeconds)) events/s")
            return
        }
        // The KPIs after ingest: what every other path must agree with.
        let ingested = try workload.deliveryIds.map { try ledger!.kpis(delivery: $0, semantics: .efs)! }

        // The same records, for the baselines.
        let (input, extract) = try timed { try BaselineInput(ledger!) }
        report.events = input.count
        say("\(input.count) records extracted for the baselines in \(String(format: "%.1f", extract)) s")

        // 2. The physical limits: raw LMDB sequential append of the same record bytes (durable, 10,000
        //    per transaction), the disk's durable sequential write rate; and raw LMDB doing the ledger's
        //    own writes and reads (the log in each append, the projection at checkpoints of the same
        //    policy) from C: what the design costs in LMDB, without the ledger's own CPU.
        var sequential = bl_ingest_result()
        try input.withEvents { ev in try check(bl_lmdb_append_only(out + "/append.lmdb", ev, 10_000, noSync ? 0 : 1, &sequential), "raw LMDB append") }
        var raw = bl_ingest_result()
        var rawFinalCheckpoint = 0.0
        try input.withEvents { ev in
            try check(bl_lmdb_ingest(out + "/raw.lmdb", ev, 10_000, Int(options.checkpointRecords), noSync ? 0 : 1, &raw, &rawFinalCheckpoint),
                      "raw LMDB ingest")
        }
        var diskRate = 0.0
        try check(bl_disk_write_rate(out + "/disk.probe", 256 << 20, 4 << 20, &diskRate), "disk write rate")
        let ledgerBytes = diskBytes(libraryPath)
        report.rate("ingest, library, durable", events: appended, seconds: appendSeconds,
                    baseline: "raw LMDB sequential append", baselineEvents: Int(sequential.events), baselineSeconds: sequential.seconds,
                    goal: "≥ 1 M/s and ≥ 0.4× raw append") { v, ratio in v >= 1e6 && (ratio ?? 0) >= 0.4 }
        report.rate("ingest vs the same writes from C", events: appended, seconds: appendSeconds,
                    baseline: "raw LMDB, the log in each append, the projection at checkpoints",
                    baselineEvents: Int(raw.events), baselineSeconds: raw.seconds)
        report.size("MB/s written by the ingest (data.mdb / time)", value: Double(ledgerBytes) / appendSeconds / 1e6, unit: "MB/s",
                    baseline: "disk, durable sequential writes", baselineValue: diskRate / 1e6)
        report.time("final checkpoint (the tail left by the ingest)", seconds: finalCheckpoint,
                    baseline: "raw LMDB, the same checkpoint", baselineSeconds: rawFinalCheckpoint)
        if let reader, reader.terminationStatus == 0, let data = FileManager.default.contents(atPath: readerOut),
           let r = try? JSONDecoder().decode(ReaderProcess.Result.self, from: data), !r.kpis.isEmpty {
            report.time("another process, during ingest: KPIs now p50", seconds: percentile(r.kpis, 50))
            report.time("another process, during ingest: KPIs now p99", seconds: percentile(r.kpis, 99), goal: "≤ 5 ms") { $0 <= 0.005 }
            if !r.status.isEmpty {
                report.time("another process, during ingest: status p99", seconds: percentile(r.status, 99), goal: "≤ 1 ms") { $0 <= 0.001 }
            }
            report.checks["a reader in another process saw the ingest advance"] = r.lastPosition > r.firstPosition
            say("reader process: \(r.kpis.count) KPI answers, positions \(r.firstPosition)…\(r.lastPosition)")
        } else if reader != nil {
            report.checks["a reader in another process answered during the ingest"] = false
        }
        report.size("peak RSS (heap), library ingest", value: Double(peakAnonymous) / 1048576, unit: "MiB", goal: "< 1024 MiB at 10 M",
                    met: peakAnonymous < 1 << 30)
        report.size("  of which before ingest (generator)", value: Double(anonymousBefore) / 1048576, unit: "MiB")
        report.size("peak RSS (heap + LMDB map pages)", value: Double(ingestRSS) / 1048576, unit: "MiB")
        say("raw LMDB ingest: \(raw.events) events in \(String(format: "%.2f", raw.seconds)) s")

        // 3. SQLite: the same events in one table with the obvious index.
        var sqlite = bl_ingest_result()
        try input.withEvents { ev in try check(bl_sqlite_ingest(out + "/sqlite.db", ev, 10_000, &sqlite), "SQLite ingest") }
        report.rate("ingest vs SQLite", events: appended, seconds: appendSeconds, baseline: "SQLite, WAL, FULL, 1 index",
                    baselineEvents: Int(sqlite.events), baselineSeconds: sqlite.seconds)
        say("SQLite ingest: \(sqlite.events) rows in \(String(format: "%.2f", sqlite.seconds)) s")

        // 4. Full re-projection from the log vs the raw C scan-and-fold: three runs of each, medians
        //    (a run is about a second at 1 M events: one run is at the mercy of the machine).
        PeakMemory.reset()
        let rebuilds = try (0..<3).map { _ in try ledger!.rebuildProjection() }
        let rebuildRSS = PeakMemory.read()
        let rebuilt = rebuilds.sorted { $0.seconds < $1.seconds }[1]
        // The statuses and KPIs' fold, as the C baseline's (which folds in memory and writes nothing):
        // without the valid-time index and without the commit (LMDB writing the new projection's
        // pages, then the fsync), which is reported on its own row.
        let statusesSeconds = percentile(rebuilds.map { $0.seconds - $0.validTimeSeconds - $0.commitSeconds }, 50)
        let commitSeconds = percentile(rebuilds.map(\.commitSeconds), 50)
        // The baseline's scan first (it also brings its file into the page cache, as the ledger's
        // rebuild had its own file there), then its scan and fold.
        var scanSeconds = 0.0, scanned: UInt64 = 0
        try check(bl_lmdb_scan(out + "/raw.lmdb", &scanSeconds, &scanned), "raw LMDB scan")
        try check(bl_lmdb_scan(out + "/raw.lmdb", &scanSeconds, &scanned), "raw LMDB scan")
        var folds: [bl_fold_result] = []
        for _ in 0..<3 {
            var f = bl_fold_result()
            try check(bl_lmdb_scan_fold(out + "/raw.lmdb", input.maxStream, 0, &f), "raw LMDB scan and fold")
            folds.append(f)
        }
        let fold = folds.sorted { $0.seconds < $1.seconds }[1]
        report.rate("re-projection, statuses + KPIs", events: Int(rebuilt.eventsFolded), seconds: statusesSeconds,
                    baseline: "C scan + fold", baselineEvents: Int(fold.events), baselineSeconds: fold.seconds,
                    goal: "≥ 0.5× C fold") { _, ratio in (ratio ?? 0) >= 0.5 }
        report.rate("re-projection, + valid-time index", events: Int(rebuilt.eventsFolded), seconds: rebuilt.seconds - rebuilt.commitSeconds,
                    baseline: "C scan + fold", baselineEvents: Int(fold.events), baselineSeconds: fold.seconds)
        report.time("re-projection's commit (its pages written, fsync)", seconds: commitSeconds)
        report.rate("re-projection, all of it (commit included)", events: Int(rebuilt.eventsFolded), seconds: rebuilt.seconds)
        report.rate("C cursor scan alone", events: Int(scanned), seconds: scanSeconds)
        report.size("peak RSS, re-projection (+ map, runner)", value: Double(rebuildRSS) / 1048576, unit: "MiB")
        var latest = bl_tally(), latestRows: UInt64 = 0, latestSeconds = 0.0
        try check(bl_sqlite_latest_status(out + "/sqlite.db", &latestRows, &latest, &latestSeconds), "SQLite latest status")
        report.time("status of every message", seconds: rebuilt.seconds, baseline: "SQLite latest per recipient", baselineSeconds: latestSeconds)
        say("re-projection: \(rebuilt.eventsFolded) events in \(String(format: "%.2f", rebuilt.seconds)) s; C fold \(String(format: "%.3f", fold.seconds)) s")

        // 5. Queries: KPIs now and as of the middle of the largest delivery; status point queries.
        let delivery = workload.deliveryIds[0]
        var kpiTimes: [Double] = []
        for i in 0..<2_000 { kpiTimes.append(try timed { try ledger!.kpis(delivery: delivery, semantics: i % 2 == 0 ? .classic : .efs) }.1) }
        var sqlKPIs = bl_tally(), sqlKPISeconds = 0.0
        try check(bl_sqlite_kpis(out + "/sqlite.db", delivery, &sqlKPIs, &sqlKPISeconds), "SQLite KPIs")
        report.time("KPIs now (median)", seconds: percentile(kpiTimes, 50), baseline: "SQLite GROUP BY", baselineSeconds: sqlKPISeconds,
                    goal: "≤ 10 µs") { $0 <= 10e-6 }
        let times = input.occurredAt.enumerated().filter { input.deliveries[$0.offset] == 1 }.map(\.element)
        let middle = Instant(millisecondsSinceEpoch: (times.min()! + times.max()!) / 2)
        var asOfTimes: [Double] = []
        var asOfKPIs: DeliveryKPIs?
        for _ in 0..<50 {
            let (k, s) = try timed { try ledger!.kpis(delivery: delivery, semantics: .efs, at: TimeBounds(asOf: middle)) }
            asOfKPIs = k?.kpis
            asOfTimes.append(s)
        }
        report.time("KPIs as of mid-delivery (median)", seconds: percentile(asOfTimes, 50), baseline: "SQLite GROUP BY (now)",
                    baselineSeconds: sqlKPISeconds, goal: "≤ 15 ms") { $0 <= 0.015 }
        var rng = SystemRandomNumberGenerator()
        var statusTimes: [Double] = [], withEvents: [Double] = []
        for _ in 0..<queries {
            let m = input.messages.randomElement(using: &rng)!
            statusTimes.append(try timed { try ledger!.status(delivery: m.delivery, recipient: m.recipient, includeEvents: false) }.1)
            withEvents.append(try timed { try ledger!.status(delivery: m.delivery, recipient: m.recipient) }.1)
        }
        report.time("status p50", seconds: percentile(statusTimes, 50))
        report.time("status p99", seconds: percentile(statusTimes, 99), goal: "≤ 50 µs") { $0 <= 50e-6 }
        report.time("status + its events p99", seconds: percentile(withEvents, 99))

        // 6. Sizes.
        let tables = try ledger!.tableSizes()
        let stateBytes = tables.first { $0.name == "messageState" }!
        // B-tree pages of the messageState table (states packed 16 to an entry) over the messages.
        let statePerMessage = Double(stateBytes.bytes) / Double(max(input.messages.count, 1))
        report.size("projection state per message", value: statePerMessage, unit: "B", goal: "≤ 32 B", met: statePerMessage <= 32)
        report.size("bytes on disk per event", value: Double(ledgerBytes) / Double(input.count), unit: "B",
                    baseline: "raw LMDB sequential append", baselineValue: Double(sequential.bytes_on_disk) / Double(input.count),
                    goal: "≤ 200 B", met: Double(ledgerBytes) <= 200 * Double(input.count))
        report.size("  of which raw source bytes", value: Double(input.rawSourceBytes) / Double(input.count), unit: "B")
        report.size("bytes on disk per event vs SQLite", value: Double(ledgerBytes) / Double(input.count), unit: "B",
                    baseline: "SQLite", baselineValue: Double(sqlite.bytes_on_disk) / Double(input.count))
        for t in tables where t.bytes > 0 {
            report.size("  table \(t.name)", value: Double(t.bytes) / Double(input.count), unit: "B/event")
        }

        // 7. Incremental: a small append (projection included), then reopening (catch-up, nothing behind).
        let extra = (0..<1_000).map { i in
            Event(id: "extra-\(i)", kind: .relay, delivery: delivery, recipient: "extra\(i)@example.com",
                  occurredAt: middle, source: .api)
        }
        let (_, small) = try timed { try ledger!.append(extra) }
        report.time("append 1,000 events (projection incl.)", seconds: small)
        ledger = nil
        let (reopened, reopen) = try timed { try Ledger(path: libraryPath, options: options) }
        report.time("reopen + catch-up", seconds: reopen)

        // 8. Correctness: the ledger, the C fold and SQLite agree on every message.
        var lk = (delivered: Int64(0), bounced: Int64(0), beforeRelay: Int64(0), retrying: Int64(0), inFlight: Int64(0))
        for k in ingested {
            lk.delivered += k.delivered; lk.bounced += k.bounced; lk.beforeRelay += k.failedBeforeRelay
            lk.retrying += k.retrying; lk.inFlight += k.takenIntoAccount - k.retrying
        }
        let afterExtra = try reopened.kpis(delivery: delivery, semantics: .efs)!
        report.checks["small append counted"] = afterExtra.takenIntoAccount == ingested[0].takenIntoAccount + 1_000
        func agrees(_ t: bl_tally) -> Bool {
            Int64(t.delivered) == lk.delivered && Int64(t.bounced) == lk.bounced && Int64(t.failed_before_relay) == lk.beforeRelay
                && Int64(t.retrying) == lk.retrying && Int64(t.in_flight) == lk.inFlight
        }
        report.checks["ledger = C fold"] = agrees(fold.tally)
        report.checks["ledger = SQLite latest status"] = agrees(latest)
        // The as-of answer (steps and minute checkpoints) = the C fold of exactly the events up to that instant.
        let asOfFold = try input.withEvents { ev in
            var filtered = ev.pointee
            var keep: [UInt8] = [], offsets: [UInt64] = [0]
            for i in 0..<input.count where input.occurredAt[i] <= middle.millisecondsSinceEpoch && input.deliveries[i] == 1 {
                keep += input.records[Int(input.recordOffsets[i])..<Int(input.recordOffsets[i + 1])]
                offsets.append(UInt64(keep.count))
            }
            var deliveries = [UInt32](repeating: 1, count: offsets.count - 1)
            var result = bl_fold_result()
            try keep.withUnsafeBufferPointer { k in
                try offsets.withUnsafeBufferPointer { o in
                    try deliveries.withUnsafeMutableBufferPointer { d in
                        filtered.count = offsets.count - 1
                        filtered.records = k.baseAddress
                        filtered.record_offsets = o.baseAddress
                        filtered.deliveries = UnsafePointer(d.baseAddress)
                        try check(bl_fold_events(&filtered, 1, &result), "C fold as of")
                    }
                }
            }
            return result.tally
        }
        if let k = asOfKPIs {
            report.checks["as-of = C fold of the events up to it"] = Int64(asOfFold.delivered) == k.delivered && Int64(asOfFold.bounced) == k.bounced
                && Int64(asOfFold.failed_before_relay) == k.failedBeforeRelay && Int64(asOfFold.retrying) == k.retrying
                && Int64(asOfFold.in_flight) == k.takenIntoAccount - k.retrying
        } else {
            report.checks["as-of = C fold of the events up to it"] = false
        }
        report.checks["verify"] = try reopened.verify().isHealthy

        // 9. CLI ingest of SparkPost webhook JSON (the release `ledger` binary, a fresh ledger).
        if !skipCLI {
            let feed = out + "/feed.json", decl = out + "/declarations.jsonl", cliDB = out + "/cli.lmdb"
            let gen = try runProgram(ledgerBinary, ["generate", "--recipients", "\(spec.recipientsPerDelivery)", "--deliveries", "\(spec.deliveries)",
                                                    "--seed", "\(seed)", "--output", feed, "--declarations", decl])
            guard gen.status == 0 else { throw BenchError("ledger generate failed (\(ledgerBinary)); build it with swift build -c release") }
            _ = try runProgram(ledgerBinary, ["ingest", "--db", cliDB, decl])
            let cli = try runProgram(ledgerBinary, ["ingest", "--db", cliDB, feed])
            guard cli.status == 0 else { throw BenchError("ledger ingest failed: \(cli.output)") }
            let count = Self.eventCount(cli.output)
            report.rate("ingest, CLI, SparkPost JSON", events: count, seconds: cli.seconds, goal: "≥ 200 k/s") { v, _ in v >= 200_000 }
            report.size("peak RSS, CLI ingest", value: Double(cli.peakRSS) / 1048576, unit: "MiB")
            let cliLedger = try Ledger(path: cliDB, options: { var o = options; o.createIfMissing = false; return o }())
            let viaCLI = try workload.deliveryIds.map { try cliLedger.kpis(delivery: $0, semantics: .efs)! }
            report.checks["CLI SparkPost = library JSONL"] = viaCLI == ingested
            say("CLI ingest: \(count) events in \(String(format: "%.2f", cli.seconds)) s")
        }

        print(report.table())
        try report.json().write(toFile: json ?? out + "/report.json", atomically: true, encoding: .utf8)
        let failed = report.checks.filter { !$0.value }.map(\.key)
        if !failed.isEmpty { throw BenchError("wrong results: \(failed.sorted().joined(separator: ", "))") }
    }

    /// "1M", "200k", "5000" → a count.
    static func parseCount(_ s: String) throws -> Int {
        let lower = s.lowercased()
        let (digits, factor): (Substring, Double) = lower.hasSuffix("m") ? (lower.dropLast(), 1e6) : lower.hasSuffix("k") ? (lower.dropLast(), 1e3) : (Substring(lower), 1)
        // Decimal digits and one point only (`Double` alone would also read "0x10", "1e3", "inf").
        let plain = !digits.isEmpty && digits.allSatisfy { $0.isASCII && ($0.isNumber || $0 == ".") } && digits.filter { $0 == "." }.count <= 1
        guard plain, let v = Double(digits), v.isFinite, v * factor >= 1_000, v * factor <= 100e6 else {
            throw ValidationError("--events '\(s)' is not a count from 1k to 100M like 200k, 1M or 10M")
        }
        return Int(v * factor)
    }

    /// The file that marks a directory as the benchmark's own (it is removed and recreated).
    static let marker = ".ledger-bench"

    func validate() throws {
        _ = try Self.parseCount(events)
        guard queries >= 1 else { throw ValidationError("--queries must be at least 1") }
        guard !out.isEmpty else { throw ValidationError("--out is empty: give the benchmark's working directory") }
        var st = stat()
        if stat(out, &st) == 0 {
            let empty = (try? FileManager.default.contentsOfDirectory(atPath: out))?.isEmpty ?? false
            guard empty || FileManager.default.fileExists(atPath: out + "/" + Self.marker) else {
                throw ValidationError("--out '\(out)' exists and is not a benchmark directory (no \(Self.marker) in it): choose another")
            }
        }
    }

    /// Deliveries of at most 1 M recipients; about 2.6 ledger events per message.
    static func shape(events: Int) -> (deliveries: Int, recipients: Int) {
        let messages = max(100, Int(Double(events) / 2.6))
        let deliveries = max(1, (messages + 999_999) / 1_000_000)
        return (deliveries, messages / deliveries)
    }

    /// The number in "…, N events" of `ledger ingest`'s summary.
    static func eventCount(_ summary: String) -> Int {
        guard let r = summary.range(of: #"(\d+) events"#, options: .regularExpression) else { return 0 }
        return Int(summary[r].split(separator: " ")[0]) ?? 0
    }

    static func machine() -> String {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let memory = ProcessInfo.processInfo.physicalMemory >> 30
        var model = "unknown CPU"
        if let cpu = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
           let line = cpu.split(separator: "\n").first(where: { $0.hasPrefix("model name") }) {
            model = line.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? model
        }
        return "\(cores) cores, \(memory) GiB, \(model)"
    }
}
