import ArgumentParser
import DeliveryLedger
import Foundation
import LedgerIngest
import LedgerWorkload

struct DemoCommand: OutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Build a realistic example delivery and print its classic and EFS projections side by side.",
        discussion: """
            Generates one delivery (10,000 recipients by default; deterministic for a seed) as SparkPost \
            webhook batches — injections, deliveries, soft bounces then deliveries, hard bounces with real \
            MTA texts, timeouts after 3.5 days of retries, asynchronous bounces after delivery, policy \
            rejections, auto-replies, opens and clicks, ~5 % duplicated and ~10 % out-of-order elements — \
            and ingests them batch by batch through the same reader as `ledger ingest`. Uses a temporary \
            database (removed afterwards) unless --db names one.
            """
    )

    @Option(help: ArgumentHelp("Keep the demo ledger in this directory (default: a temporary one, removed afterwards).", valueName: "path"))
    var db: String?
    @Option(help: "Recipients in the delivery.") var recipients: Int = 10_000
    @Option(help: "Seed of the generator (same seed, same delivery).") var seed: UInt64 = 42

    func validate() throws {
        guard (1...5_000_000).contains(recipients) else { throw ValidationError("--recipients must be 1...5000000") }
    }

    func execute(_ out: inout Output) throws {
        let path: String
        let temporary = db == nil
        if let db {
            // A second demo into a kept ledger would conflict with the first (the same event ids with
            // another delivery's content): refused before anything is opened.
            if FileManager.default.fileExists(atPath: (db as NSString).appendingPathComponent("data.mdb")) {
                throw CLIError("--db \(db) already holds a ledger: the demo builds a new one. Name a directory that does not exist yet "
                               + "(or remove this one); to add events to a ledger, use `ledger ingest` (`ledger generate` writes a feed)")
            }
            path = db
        } else {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-demo-\(UUID().uuidString)").path
        }
        defer { if temporary { try? FileManager.default.removeItem(atPath: path) } }
        var options = LedgerOptions()
        options.durable = !temporary
        let ledger = try Ledger(path: path, options: options)

        var spec = WorkloadSpec()
        spec.recipientsPerDelivery = recipients
        spec.seed = seed
        let workload = Workload(spec: spec)
        guard let delivery = workload.deliveryIds.first else { return }

        let recordedFrom = options.clock()
        let declarations = try FeedReader.read(workload.deliveryDeclarationsJSONL(), file: "declarations.jsonl",
                                               options: IngestOptions(format: .jsonl))
        try ledger.append(declarations.events)

        var appended = 0, duplicates = 0, skipped = 0, batchIndex = 0
        var progress: [(batch: Int, upTo: Instant, classic: DeliveryKPIs, efs: DeliveryKPIs)] = []
        let checkpoints = Set([1, 2, 4, 10, 25, 50, 100].map { max(1, workload.batchCount * $0 / 100) })
        try workload.forEachSparkPostBatch { batch in
            batchIndex += 1
            let input = try FeedReader.read(batch, file: "webhook batch \(batchIndex)", options: IngestOptions(format: .sparkpost))
            let result = try ledger.append(input.events)
            appended += result.appended
            duplicates += result.duplicates.count
            skipped += input.skipped.values.reduce(0, +)
            if checkpoints.contains(batchIndex), let latest = input.events.map(\.occurredAt).max(),
               let c = try ledger.kpis(delivery: delivery, semantics: .classic), let e = try ledger.kpis(delivery: delivery, semantics: .efs) {
                progress.append((batchIndex, latest, c, e))
            }
        }

        // A kept ledger (--db) gets its projection written, as `ingest` does before it ends: the next
        // command reads it instead of folding the whole log again (a tester found a demo ledger's
        // projection tables empty — every read then folded the log, its hash chain unchecked).
        if !temporary { try ledger.checkpoint() }
        let recordedUntil = try ledger.basis().recordedAt ?? options.clock()
        out.line("Demo delivery \(delivery): \(recipients) recipients, seed \(seed)")
        out.line("Ingested \(workload.batchCount) SparkPost webhook batches (\(workload.elementCount) elements): "
                 + "appended \(appended) events, \(duplicates) duplicates ignored, \(skipped) skipped (opens, clicks); "
                 + "with the delivery's declaration, log positions 1–\(appended + declarations.events.count).")
        // Transaction time: what --known-at selects (the events' own times, valid time, are the feed's: November 2026).
        out.line("Recorded (transaction time, what --known-at selects) from \(recordedFrom.rfc3339) to \(recordedUntil.rfc3339).")
        out.line()
        let efsNow = try ledger.kpis(delivery: delivery, semantics: .efs)!
        for l in KPITable.render(delivery: delivery, kpis: [try ledger.kpis(delivery: delivery, semantics: .classic)!, efsNow],
                                  declaration: try ledger.declaration(delivery: delivery)) {
            out.line(l)
        }
        if efsNow.takenIntoAccount > 0 {
            out.line()
            out.line("\(efsNow.takenIntoAccount) relayed messages have no final word from the MTA yet (EFS: Taken into account; classic counts them Sent). "
                     + "When an MTA stops reporting, `ledger sweep` records a timeout for each message still open once min(validity period, 3.5 days) "
                     + "after its relay has passed (domain.md §4)" + (temporary ? "." : ": `ledger sweep --db \(path)`, then `ledger project --both --db \(path)`."))
        }
        out.line()
        out.line("Success % as the feedback arrived (classic counts a message as Sent on relay; EFS only on delivery):")
        var table = TextTable(header: ["After batch", "Feedback up to", "Classic", "EFS"])
        for p in progress {
            table.row("\(p.batch)/\(workload.batchCount)", p.upTo.rfc3339, Format.percent(p.classic.successRate), Format.percent(p.efs.successRate))
        }
        for l in table.render() { out.line(l) }
        out.line()
        out.line("One recipient per generated scenario, with the event that decided its status (`ledger status ADDRESS --db PATH` shows a recipient's events; one never relayed has none):")
        var examples = TextTable(header: ["Generated as", "Recipient", "Decided by", "Classic", "EFS"], rightAligned: false)
        var seen = Set<Scenario>()
        var hardBounceChecked = 0
        for s in workload.scenarios() where !seen.contains(s.scenario) {
            let report = try ledger.status(delivery: s.delivery, recipient: s.recipient)
            // A hard bounce's example is one the ledger qualifies Hard: the scenario also refuses some
            // as spam (SparkPost class 51), which Campaign qualifies Soft, Refused — a true answer, but
            // a confusing example (found by a fresh user). The first of the scenario otherwise.
            if s.scenario == .hardBounce, report?.classic.failureType != .hard, hardBounceChecked < 200 {
                hardBounceChecked += 1
                continue
            }
            seen.insert(s.scenario)
            func describe(_ v: MessageStatusView?) -> String {
                guard let v else { return MessageStatus.pending.label + " (no event)" }
                var text = v.status.label
                if let r = v.failureReason { text += " (\(v.failureType?.label ?? "—"), \(r.label))" }
                return text
            }
            let decisive = report?.events.first { $0.position == report?.classic.decidedBy }?.event
            let decidedBy = decisive.map { e in
                e.kind.rawValue + (e.bounceClass.map { " (class \($0))" } ?? "") + (e.beforeRelay ? " before relay" : "")
            } ?? "—"
            examples.row(s.scenario.rawValue, s.recipient, decidedBy, describe(report?.classic), describe(report?.efs))
        }
        for l in examples.render() { out.line(l) }
        out.line()
        if temporary {
            out.line("The demo ledger was temporary. Keep one with: swift run ledger demo --db demo.lmdb; then: swift run ledger project --both --db demo.lmdb")
        } else {
            out.line("The demo ledger is in \(path). Try: swift run ledger project --both --db \(path) (or .build/debug/ledger)")
        }
    }
}

struct GenerateCommand: OutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write a deterministic generated workload (the demo's mix) as a SparkPost webhook batch or canonical JSON Lines.",
        discussion: """
            For benchmarks and experiments: `ledger generate --recipients 200000 --output feed.json` writes one \
            JSON array of webhook elements; --declarations F also writes the delivery declarations (JSONL).
            """
    )

    @Option(help: "Recipients per delivery.") var recipients: Int = 10_000
    @Option(help: "Number of deliveries.") var deliveries: Int = 1
    @Option(help: "Seed (same seed, same bytes).") var seed: UInt64 = 42
    @Option(help: "Output format: sparkpost or jsonl.") var format: String = "sparkpost"
    @Option(help: "Output file (- for standard output).") var output: String
    @Option(help: "Also write the delivery declarations (JSONL) to this file.") var declarations: String?

    func validate() throws {
        guard format == "sparkpost" || format == "jsonl" else { throw ValidationError("--format must be sparkpost or jsonl") }
        guard recipients >= 1, deliveries >= 1 else { throw ValidationError("--recipients and --deliveries must be at least 1") }
        // The generator keeps every recipient in memory (about 100 bytes each): bounded here, where a
        // usage error can say so (a huge count ended the process by a precondition, found by a tester).
        guard recipients <= 50_000_000, deliveries <= 10_000, recipients.multipliedReportingOverflow(by: deliveries).partialValue <= 200_000_000,
              !recipients.multipliedReportingOverflow(by: deliveries).overflow else {
            throw ValidationError("--recipients must be at most 50000000, --deliveries at most 10000, and their product (messages) at most 200000000")
        }
    }

    func execute(_ out: inout Output) throws {
        do {
            try write(&out)
        } catch let error as CLIError {
            throw error
        } catch {
            // A pipe whose reader left (`ledger generate --output - | head`): the reader took what it
            // wanted; the command ends quietly with status 0, as a report does (``Output``).
            if output == "-", Self.isBrokenPipe(error) { return }
            // A write error (a full disk): named with the system's reason.
            let reason = ((error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError)?.localizedFailureReason
                ?? (error as NSError).localizedFailureReason ?? "\(error)"
            throw CLIError("cannot write \(output == "-" ? "standard output" : output): \(reason)")
        }
    }

    /// Whether `error` (Foundation's, from `FileHandle.write`) is EPIPE, itself or underlying.
    static func isBrokenPipe(_ error: any Error) -> Bool { RejectWriter.posixCode(error) == EPIPE }

    private func write(_ out: inout Output) throws {
        var spec = WorkloadSpec()
        spec.recipientsPerDelivery = recipients
        spec.deliveries = deliveries
        spec.seed = seed
        let workload = Workload(spec: spec)
        let handle: FileHandle
        if output == "-" {
            handle = FileHandle.standardOutput
        } else {
            handle = try OutputFile.open(output)
        }
        defer { if output != "-" { try? handle.close() } }
        var lines = 0
        if format == "jsonl" {
            try workload.forEachCanonicalBatch { batch in
                lines += batch.lazy.filter { $0 == 0x0A }.count
                try handle.write(contentsOf: batch)
            }
        } else {
            // One array: the elements of every batch, in arrival order.
            try handle.write(contentsOf: Data("[\n".utf8))
            var first = true
            try workload.forEachSparkPostBatch { batch in
                guard let open = batch.firstIndex(of: UInt8(ascii: "[")), let close = batch.lastIndex(of: UInt8(ascii: "]")) else { return }
                var inner = batch[(open + 1)..<close]
                while let f = inner.first, f == 0x20 || f == 0x0A || f == 0x0D || f == 0x09 { inner = inner.dropFirst() }
                while let l = inner.last, l == 0x20 || l == 0x0A || l == 0x0D || l == 0x09 { inner = inner.dropLast() }
                guard !inner.isEmpty else { return }
                if !first { try handle.write(contentsOf: Data(",\n".utf8)) }
                first = false
                try handle.write(contentsOf: Data(inner))
            }
            try handle.write(contentsOf: Data("\n]\n".utf8))
        }
        if let declarations {
            let file = try OutputFile.open(declarations)
            do { try file.write(contentsOf: Data(workload.deliveryDeclarationsJSONL())) } catch { throw CLIError("cannot write \(declarations): \(error)") }
            try? file.close()
        }
        guard output != "-" else { return }
        if format == "jsonl" {
            // Opens and clicks are webhook elements, not canonical events: the lines are fewer.
            out.line("Wrote \(lines) event lines for \(deliveries) × \(recipients) messages to \(output) "
                     + "(\(workload.elementCount - lines) opens and clicks of the webhook feed have no canonical line).")
        } else {
            out.line("Wrote \(workload.elementCount) webhook elements for \(deliveries) × \(recipients) messages to \(output).")
        }
    }
}
