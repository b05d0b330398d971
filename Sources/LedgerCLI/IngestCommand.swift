import ArgumentParser
import DeliveryLedger
import Foundation
import LedgerIngest

struct IngestCommand: OutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Append feedback files to the ledger (canonical JSON Lines, SparkPost webhook batches, bounce messages, Postfix logs, email service providers' webhooks).",
        discussion: """
            Every file is read (in chunks: memory does not grow with the input) and checked before anything \
            is appended; then all the files' events are appended in one atomic batch — up to 20,000 events; \
            the checked events of a larger input are kept in a temporary file (in TMPDIR, removed at the end) \
            and appended from it in batches of 20,000, each atomic. A bad record makes the command fail naming the file, the line \
            (JSON Lines) or element index (SparkPost) and the field, and nothing is appended — unless \
            --skip-invalid is given: then the good records are appended and the bad ones are reported \
            (and written to --reject-file: untouched, an element that spans several lines as one line of compact JSON, \
            a bounce message as one line with %, CR and LF percent-encoded). Events already recorded are counted as duplicates \
            (no-ops); engagement, SMS and inbound-relay events are counted as skipped.
            Use - as FILE to read standard input. A directory stands for the .eml files in it (bounce messages).
            Formats: jsonl and sparkpost are auto-detected, and so is a bounce message (dsn: RFC 3464 \
            delivery status notifications, plain-text bounces, auto-replies, ARF complaints), whose delivery \
            is read from the returned message's --delivery-header (default X-Delivery-ID), else --delivery. \
            A Postfix log (--format postfix) needs --delivery; its year-less syslog stamps are read as UTC \
            (or --utc-offset, or in --timezone with its daylight-saving changes), \
            in --year or, by default, the year that puts no event more than a day in the future (a Feb 29 line: the latest leap year). \
            Email service providers' webhook bodies (ses, sendgrid, mailgun, postmark, brevo, mailjet, postal: \
            one body, a JSON array of them, or a Mailgun form-encoded body) are auto-detected too; see README \
            "Input: email service providers".
            """
    )

    @OptionGroup var database: DatabaseOptions
    @Argument(help: "Files to ingest.") var files: [String]
    @Option(help: ArgumentHelp("Input format: \(InputFormat.allCases.map(\.rawValue).joined(separator: ", ")) (auto detects every format but postfix).",
                               valueName: "format"))
    var format: String = "auto"
    @Option(name: .customLong("delivery-key"),
            help: ArgumentHelp("""
                Where the delivery id is. SparkPost: a field (default campaign_id, else transmission_id), e.g. \
                rcpt_meta.delivery_id. Providers: a dotted path into the event (SES: a mail tag name; Mailgun: \
                from event-data, e.g. user-variables.campaign) instead of the provider's grouping field (SES \
                ses:configuration-set tag, SendGrid category, Mailgun and Brevo tags, Postmark Tag, Mailjet \
                customcampaign, Postal tag).
                """, valueName: "path"))
    var deliveryKey: String?
    @Option(help: "The delivery id: required for Postfix logs, the fallback for bounce messages.") var delivery: String?
    @Option(name: .customLong("delivery-header"), help: "Bounce messages: the header of the returned message that carries the delivery id.")
    var deliveryHeader: String = "X-Delivery-ID"
    @Option(help: "Postfix logs: the year of the first year-less syslog line (default: inferred so that no event is more than a day in the future).")
    var year: Int?
    @Option(name: .customLong("utc-offset"), parsing: .unconditional, help: "Postfix logs: the UTC offset of year-less syslog stamps, e.g. +09:00 or -05:00 (default +00:00).")
    var utcOffset: String?
    @Option(help: "Postfix logs: the time zone of year-less syslog stamps by its IANA name, e.g. Europe/Paris (its offset follows daylight saving; instead of --utc-offset).")
    var timezone: String?
    @Flag(name: .customLong("skip-invalid"), help: "Append the valid records and skip the invalid ones.") var skipInvalid = false
    @Option(name: .customLong("reject-file"), help: "With --skip-invalid: write the invalid records, untouched, to this file (left empty when the run fails with nothing appended).")
    var rejectFile: String?
    @Flag(name: .customLong("dry-run"), help: "Read and check every record, report what would be appended, and append nothing (the database is not opened).")
    var dryRun = false
    @Flag(name: .customLong("no-verify"),
          help: "Append without first checking the existing ledger against its log (by default ingest runs verify's checks and appends nothing to a damaged ledger; the check reads the whole ledger).")
    var noVerify = false
    @Flag(name: .customLong("allow-empty"), help: "Accept a file that holds no record (by default it is an error: a lost or truncated export must not pass for 'nothing happened').")
    var allowEmpty = false

    func validate() throws {
        guard InputFormat(rawValue: format) != nil else {
            throw ValidationError("--format must be one of \(InputFormat.allCases.map(\.rawValue).joined(separator: ", ")), not '\(format)'")
        }
        guard !files.isEmpty else { throw ValidationError("name at least one FILE to ingest") }
        if files.filter({ $0 == "-" }).count > 1 { throw ValidationError("- (standard input) is given more than once: it can be read only once") }
        if format == "postfix" && (delivery ?? "").isEmpty { throw ValidationError("a Postfix log does not name its delivery: give --delivery ID") }
        if let year, !(1970...9999).contains(year) { throw ValidationError("--year must be 1970...9999") }
        if let utcOffset, Self.offsetSeconds(utcOffset) == nil { throw ValidationError("--utc-offset '\(utcOffset)' is not like +09:00 or -05:00") }
        if timezone != nil && utcOffset != nil { throw ValidationError("give --timezone or --utc-offset, not both") }
        if let timezone, TimeZone(identifier: timezone) == nil {
            throw ValidationError("--timezone '\(timezone)' is not a time zone of the IANA database (e.g. Europe/Paris, America/New_York, UTC)")
        }
        if rejectFile != nil && !skipInvalid { throw ValidationError("--reject-file goes with --skip-invalid") }
        if let key = deliveryKey, key.isEmpty { throw ValidationError("--delivery-key needs a field name, e.g. rcpt_meta.delivery_id") }
        if let rejectFile {
            let target = URL(fileURLWithPath: rejectFile).standardizedFileURL.resolvingSymlinksInPath()
            // The same file under another name (a hard link, /dev/stdin when standard input is the
            // file) is found by device and inode: a breaker truncated an input that way.
            var rejectInode = stat()
            let rejectExists = stat(rejectFile, &rejectInode) == 0 && (rejectInode.st_mode & S_IFMT) == S_IFREG
            for file in files {
                var inputInode = stat()
                let sameInode = rejectExists && (file == "-" ? fstat(0, &inputInode) : stat(file, &inputInode)) == 0
                    && inputInode.st_dev == rejectInode.st_dev && inputInode.st_ino == rejectInode.st_ino
                let samePath = file != "-" && URL(fileURLWithPath: file).standardizedFileURL.resolvingSymlinksInPath().path == target.path
                if sameInode || samePath {
                    let which = file == "-" ? " (standard input)" : file == rejectFile ? "" : " (\(file))"
                    throw ValidationError("--reject-file \(rejectFile) is also an input file\(which): it would be overwritten")
                }
            }
            // The reject file is created (truncated) before the ledger is opened: one inside the
            // ledger's directory would destroy its data or lock file (found by a tester: the ledger
            // emptied by `--reject-file DB/data.mdb`).
            let ledgerDirectory = URL(fileURLWithPath: database.path).standardizedFileURL.resolvingSymlinksInPath().path
            var rejectStat = stat(), fileStat = stat()
            let sameFile = stat(target.path, &rejectStat) == 0 && ["data.mdb", "lock.mdb"].contains { name in
                stat(ledgerDirectory + "/" + name, &fileStat) == 0 && fileStat.st_dev == rejectStat.st_dev && fileStat.st_ino == rejectStat.st_ino
            }
            if target.deletingLastPathComponent().path == ledgerDirectory || target.path == ledgerDirectory || sameFile {
                throw ValidationError("--reject-file \(rejectFile) is inside the ledger's directory \(database.path) or one of its files: it would overwrite the ledger")
            }
        }
    }

    /// Events kept in memory between the read and the append: up to this many, every input is read
    /// once and appended in one atomic batch; beyond, the checked events are kept in an
    /// ``EventSpill`` and appended from it in batches of this size (see README "Input": the atomic
    /// unit of very large inputs). 20,000 (was 50,000 until 2026-12-04): an append's memory grows
    /// with its batch — the events, and for every old message it touches (the timeouts at a feed's
    /// end) the chain's earlier events and ids — and at 50,000 the peak anonymous memory of a
    /// 5 M-event ingest was 319–353 MiB, at 20,000 253 MiB (issue #11's goal: ≤ 300), in the same
    /// time (one more fsync'ed commit every ~0.5 s).
    static let atomicBatchLimit = 20_000

    /// A system of record appends nothing to a ledger it cannot show is sound (issue 12): before the
    /// first append to an existing ledger, `ingest` runs ``Ledger/verify(maximumProblems:)`` — the hash
    /// chain over every record, the indexes, and the persisted projection against a fold of the log —
    /// and refuses with ``LedgerError/damaged(path:what:)`` naming the first problem. The appends
    /// themselves read only the log's last record and the duplicate index, so damage elsewhere would
    /// otherwise go unseen until the next `verify`. The check reads the whole ledger (about as long as
    /// `ledger verify`); `--no-verify` skips it, for a back-fill of many files followed by one `verify`.
    static func refuseIfDamaged(_ ledger: Ledger, command: String = "ingest") throws {
        let report = try ledger.verify(maximumProblems: 1)
        guard let problem = report.problems.first else { return }
        if problem.inProjection {
            throw CLIError("the ledger at '\(ledger.path)' has a projection that does not match its log: \(problem). The log itself is intact: "
                           + "`ledger reproject --db \(ledger.path)` rebuilds the projection from it (found by the check \(command) runs before it appends). Nothing was appended.")
        }
        throw LedgerError.damaged(path: ledger.path, what: "\(problem) (found by the check \(command) runs before it appends; `ledger verify --db \(ledger.path)` lists every problem)")
    }

    /// What one input gave, for the summary line.
    struct FileSummary {
        var file: String
        var format: InputFormat = .jsonl
        var events = 0
        var skipped: [String: Int] = [:]
        /// Provider formats: the skipped elements that are no complete event of the provider, by reason.
        var incomplete: [String: Int] = [:]
        var rejected = 0
    }

    func execute(_ out: inout Output) throws {
        // The reject file is created (emptied) first: whatever fails after, it holds no rejects of
        // another run (found by a tester: a run refused for a missing input left the previous run's).
        let rejects = try rejectFile.map { try RejectWriter(path: $0) }
        var appended = 0
        do {
            var options = IngestOptions(format: InputFormat(rawValue: format)!, deliveryKey: deliveryKey, skipInvalid: skipInvalid)
            options.delivery = delivery
            options.deliveryHeader = deliveryHeader
            options.year = year
            options.timeZoneOffsetSeconds = utcOffset.flatMap(Self.offsetSeconds) ?? 0
            options.timeZone = timezone.flatMap(TimeZone.init(identifier:))
            options.qualifier = try RulesOption.qualifier(given: database.rules)
            var notes: [String] = []
            let inputs = try expandDirectories(files, notes: &notes)
            for file in inputs where file != "-" {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory) else { throw CLIError("\(file): no such file") }
                guard !isDirectory.boolValue else { throw CLIError("\(file): is a directory; name the files in it") }
            }
            // Pass 1: read and check every record; rejects are written as they are found; events are
            // kept in memory while they fit one atomic batch, beyond that in a temporary file (EventSpill).
            try ingest(inputs, options: options, notes: notes, rejects: rejects, appended: &appended, &out)
        } catch {
            // A run that fails leaves no rejects of a run that did not happen: with nothing appended,
            // the reject file is emptied (found by a tester: it kept the records of a failed run);
            // with some batches appended (they stay), it is completed.
            if appended == 0 { rejects?.empty() } else { try? rejects?.finish(final: true) }
            throw error
        }
    }

    /// Pass 1 (read and check) and pass 2 (append) of ``execute(_:)``; `appended` counts the events
    /// appended so far (they stay if a later batch fails).
    private func ingest(_ inputs: [String], options: IngestOptions, notes: [String], rejects: RejectWriter?, appended: inout Int,
                        _ out: inout Output) throws {
        var summaries: [FileSummary] = []
        var reasons: [String] = []  // the first rejected records' errors, shown after the summary
        var kept = Batch()
        var spill: EventSpill? = nil
        for file in inputs {
            var summary = FileSummary(file: file)
            do {
                let fileIndex = summaries.count
                summary.format = try forEachBatch(file, options: options) { batch in
                    summary.events += batch.events.count
                    summary.rejected += batch.rejected.count
                    for (type, n) in batch.skipped { summary.skipped[type, default: 0] += n }
                    for (why, n) in batch.skippedIncomplete { summary.incomplete[why, default: 0] += n }
                    for record in batch.rejected where reasons.count < Self.reasonsShown { reasons.append(record.error.description) }
                    try rejects?.write(batch.rejected, format: batch.format)
                    guard !dryRun else { return }
                    if let spill {
                        for (i, event) in batch.events.enumerated() { try spill.write(event, file: fileIndex, location: Batch.location(batch, i)) }
                    } else {
                        kept.add(batch, file: fileIndex)
                        if kept.events.count > Self.atomicBatchLimit {
                            let created = try EventSpill()
                            for (event, origin) in zip(kept.events, kept.locations) {
                                try created.write(event, file: origin.file, location: origin.location)
                            }
                            kept = Batch()
                            spill = created
                        }
                    }
                }
            } catch let error as IngestError {
                // A bad record (a located one, or a bounce message, one a file) stops the whole run
                // unless --skip-invalid: say so (found by a fresh user: one mailing-list notice in a
                // directory of bounces stopped it, with no word of the option).
                // Not a record over 1 MiB: the stream cannot be framed past it, so it stops the run
                // even with --skip-invalid (README), and naming the option would send the user round.
                let skippable = !skipInvalid && (error.line != nil || error.element != nil || file.lowercased().hasSuffix(".eml"))
                    && !error.message.contains("longer than 1 MiB")
                // A JSON input that matches no format falls back to SparkPost when detected: say that
                // it was a guess (found by a fresh user: every unknown JSON document was "not a
                // SparkPost document").
                let guessed = format == InputFormat.auto.rawValue && error.message.hasPrefix("not a SparkPost document")
                    ? " (its format was not recognised — neither canonical JSON Lines nor a provider's webhook body — so it was read as "
                        + "SparkPost's; if it is one of the formats, give it: --format jsonl, sparkpost, ses, sendgrid, mailgun, postmark, brevo, mailjet, postal)"
                    : ""
                throw CLIError("\(error)\(guessed)\nNothing was appended."
                               + (skippable ? " With --skip-invalid, the other records are appended and this one is written to --reject-file." : ""))
            }
            if !allowEmpty, summary.events == 0, summary.rejected == 0, summary.skipped.isEmpty {
                throw CLIError("no events in \(file): it holds no record. Nothing was appended; --allow-empty accepts an empty file.")
            }
            // A file none of whose records reads as the format (a JSON document given as a Postfix log,
            // say) is the wrong input, not a quiet day.
            // Blank lines do not make it one (a blank line among garbage let it pass, found by a tester).
            if !allowEmpty, summary.events == 0, summary.rejected == 0, let unparsable = summary.skipped["unparsable"],
               summary.skipped.keys.allSatisfy({ $0 == "unparsable" || $0 == "blank" }) {
                throw CLIError("no \(summary.format.rawValue) record in \(file): all \(unparsable) of its records are unparsable as \(summary.format.rawValue) "
                               + "(another format? --format auto detects it). Nothing was appended; --allow-empty accepts such a file.")
            }
            // A provider's file none of whose elements is a complete event of that provider is another
            // provider's: Brevo's events read as SendGrid's were all "skipped" (types SendGrid does not
            // have, or `delivered` without SendGrid's timestamp field; found by testers). One unknown
            // type among complete events is skipped: providers add types.
            let incomplete = summary.incomplete.values.reduce(0, +)
            if !allowEmpty, summary.format.isProvider, summary.events == 0, summary.rejected == 0, incomplete > 0,
               incomplete == summary.skipped.values.reduce(0, +) {
                let found = summary.incomplete.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }
                    .prefix(5).map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")
                throw CLIError("no \(summary.format.rawValue) event in \(file): "
                               + "\(incomplete == 1 ? "its one element is not" : "none of its \(incomplete) elements is") "
                               + "a complete \(summary.format.rawValue) event — a type \(summary.format.rawValue) does not document, or without the "
                               + "recipient or time its events carry (skipped: \(found)). Another provider's webhooks? Give its --format (or --format auto). "
                               + "Nothing was appended; --allow-empty accepts such a file.")
            }
            summaries.append(summary)
        }
        try rejects?.finish(final: dryRun)
        #if canImport(Glibc)
        // The read is over: give back to the system the memory its decoding threads freed (glibc keeps
        // a thread's freed memory in that thread's arena), before the append grows its own.
        _ = malloc_trim(0)
        #endif

        for note in notes { out.line(note) }
        if dryRun {
            for summary in summaries { out.line(Self.summaryLine(summary)) }
            let events = summaries.reduce(0) { $0 + $1.events }
            let skipped = summaries.reduce(0) { $0 + $1.skipped.values.reduce(0, +) }
            let rejected = summaries.reduce(0) { $0 + $1.rejected }
            Self.showReasons(reasons, rejected: rejected, &out)
            out.line("Checked \(events) event\(events == 1 ? "" : "s"), \(skipped) skipped, \(rejected) rejected; nothing appended (--dry-run).")
            return
        }
        let existed = FileManager.default.fileExists(atPath: database.path + "/data.mdb")
        let pathExisted = FileManager.default.fileExists(atPath: database.path)
        let ledger = try database.open(.create, checkStructure: false)  // verify below checks it, unless --no-verify
        if let note = ledger.reprojectionNote { out.line(note) }
        if existed && !noVerify { try Self.refuseIfDamaged(ledger) }
        var totals = Totals()
        do {
            if let spill {
                // Pass 2: the checked events, appended in batches of atomicBatchLimit events.
                try spill.forEachBatch(size: Self.atomicBatchLimit) { events, locations in
                    var pending = Batch(events: events, locations: locations)
                    try append(&pending, ledger: ledger, summaries: &summaries, rejects: rejects, totals: &totals, reasons: &reasons)
                    appended = totals.appended + totals.duplicates
                }
            } else {
                try append(&kept, ledger: ledger, summaries: &summaries, rejects: rejects, totals: &totals, reasons: &reasons)
            }
        } catch {
            // An ingest that made the ledger and appended nothing leaves no empty ledger behind:
            // the path is as it was before the command.
            if !pathExisted && totals.appended == 0 && totals.duplicates == 0 { Self.removeNewLedger(at: database.path) }
            throw error
        }
        try rejects?.finish(final: true, done: "The \(totals.appended) events were appended and stay.")
        // The appended records are durable; writing their projection now spares the next reader the
        // fold of this ingest's tail (a failure here loses nothing: the tail is folded again on open).
        var checkpointNote: String? = nil
        do { _ = try ledger.checkpoint() } catch {
            checkpointNote = "Note: the projection's checkpoint was not written (\(error)); the appended events are durable, and the next command folds them again."
        }

        var rejectedTotal = 0
        var skippedTotal = 0
        for summary in summaries {
            skippedTotal += summary.skipped.values.reduce(0, +)
            rejectedTotal += summary.rejected
            out.line(Self.summaryLine(summary))
        }
        Self.showReasons(reasons, rejected: rejectedTotal, &out)
        var text = "Appended \(totals.appended) event\(totals.appended == 1 ? "" : "s")"
        if let first = totals.firstPosition, let last = totals.lastPosition { text += first == last ? " (position \(first))" : " (positions \(first)–\(last))" }
        text += ", \(totals.duplicates) duplicate\(totals.duplicates == 1 ? "" : "s"), \(skippedTotal) skipped"
        if rejectedTotal > 0 { text += ", \(rejectedTotal) rejected" + (rejectFile.map { " (written to \($0))" } ?? "") }
        out.line(text + ".")
        if let checkpointNote { out.line(checkpointNote) }
    }

    /// Removes the directory of a ledger this command created and left empty: only the files LMDB
    /// makes (`data.mdb`, `lock.mdb`), then the directory; anything else there keeps it.
    static func removeNewLedger(at path: String) {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: path), Set(names).isSubset(of: ["data.mdb", "lock.mdb"]) else { return }
        for name in names { try? fm.removeItem(atPath: path + "/" + name) }
        try? fm.removeItem(atPath: path)
    }

    /// How many rejected records' errors the report shows (all are in the reject file).
    static let reasonsShown = 10

    /// `Rejected: <error>` for the first rejected records, and how many more there are.
    static func showReasons(_ reasons: [String], rejected: Int, _ out: inout Output) {
        for reason in reasons { out.line("Rejected: \(reason)") }
        if rejected > reasons.count { out.line("Rejected: … and \(rejected - reasons.count) more (--reject-file keeps every rejected record, untouched).") }
    }

    /// `file: format, N events, S skipped (type n, …), R rejected`.
    static func summaryLine(_ summary: FileSummary) -> String {
        let skipped = summary.skipped.values.reduce(0, +)
        var line = "\(summary.file): \(summary.format.rawValue), \(summary.events) event\(summary.events == 1 ? "" : "s")"
        if skipped > 0 {
            line += ", \(skipped) skipped (" + summary.skipped.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + ")"
        }
        if summary.rejected > 0 { line += ", \(summary.rejected) rejected" }
        return line
    }

    /// Events on their way to the ledger, with where each came from.
    struct Batch {
        var events: [Event] = []
        var locations: [(file: Int, location: String)] = []

        mutating func add(_ input: ParsedInput, file: Int) {
            events += input.events
            for i in input.events.indices { locations.append((file, Self.location(input, i))) }
        }

        /// Where event `i` of `input` was read.
        static func location(_ input: ParsedInput, _ i: Int) -> String {
            i < input.locations.count ? input.locations[i] : "event \(i + 1)"
        }
    }

    /// What the appends did, summed over batches.
    struct Totals {
        var appended = 0
        var duplicates = 0
        var firstPosition: UInt64?
        var lastPosition: UInt64?
        var batches = 0
    }

    /// Appends one batch; with --skip-invalid an event whose id the ledger holds with other content is
    /// rejected like a bad record (written to the reject file) and the batch retried.
    private func append(_ batch: inout Batch, ledger: Ledger, summaries: inout [FileSummary], rejects: RejectWriter?,
                        totals: inout Totals, reasons: inout [String]) throws {
        guard !batch.events.isEmpty else { return }
        while true {
            let events = batch.events
            switch Result(catching: { () throws(LedgerError) -> AppendResult in try ledger.append(events) }) {
            case let .success(r):
                let duplicateIndexes = Set(r.duplicates)
                for (i, p) in r.positions.enumerated() where !duplicateIndexes.contains(i) {
                    totals.firstPosition = min(totals.firstPosition ?? p, p)
                    totals.lastPosition = max(totals.lastPosition ?? p, p)
                }
                totals.appended += r.appended
                totals.duplicates += r.duplicates.count
                totals.batches += 1
                return
            case let .failure(error):
                let earlier = totals.batches == 0 ? " Nothing was appended."
                    : " That was batch \(totals.batches + 1) of this input, and only it was rolled back. The \(totals.appended) events of the earlier batches were appended "
                        + "and stay (re-running the command after the fix appends the rest; those count as duplicates)."
                guard skipInvalid, case let .conflict(index, _, _, _, _) = error, index < batch.events.count else {
                    throw describe(error, batch, summaries, suffix: earlier)
                }
                let message = describe(error, batch, summaries, suffix: "").description
                if reasons.count < Self.reasonsShown { reasons.append(message) }
                let event = batch.events.remove(at: index)
                let origin = batch.locations.remove(at: index)
                summaries[origin.file].events -= 1
                summaries[origin.file].rejected += 1
                let done = totals.batches == 0 ? "Nothing was appended."
                    : "The \(totals.appended) events of the earlier batches were appended and stay; this batch was not."
                try rejects?.write([RejectedRecord(error: IngestError(file: summaries[origin.file].file, message: message), raw: event.raw)],
                                   format: summaries[origin.file].format, done: done)
                try rejects?.finish(done: done)
            }
        }
    }

    /// Reads one input in batches.
    /// - Returns: the format read.
    private func forEachBatch(_ file: String, options: IngestOptions, _ body: (ParsedInput) throws -> Void) throws -> InputFormat {
        let fd: Int32 = file == "-" ? 0 : open(file, O_RDONLY)
        guard fd >= 0 else { throw CLIError("\(file): cannot be read: \(String(cString: strerror(errno)))") }
        defer { if fd != 0 { close(fd) } }
        var stream = FeedStream.reading(fd: fd, file: file, options: options)
        while let batch = try stream.next() { try body(batch) }
        return stream.detectedFormat ?? .jsonl
    }

    /// Says which file and record a ledger error is about.
    private func describe(_ error: LedgerError, _ batch: Batch, _ summaries: [FileSummary], suffix: String) -> CLIError {
        func locate(_ index: Int) -> String {
            guard index < batch.locations.count else { return "event \(index + 1)" }
            let origin = batch.locations[index]
            return "\(summaries[origin.file].file): \(origin.location)"
        }
        switch error {
        case let .conflict(index, id, stream, position, other):
            let whose = stream.recipient.isEmpty ? "delivery '\(stream.delivery)'" : "\(stream.recipient) in delivery '\(stream.delivery)'"
            let earlier = position.map { "the ledger already holds an event with this id at position \($0)" }
                ?? "\(locate(other ?? 0)) has the same id"
            // What to do about it (found by a fresh user: two sample sets reusing one event id).
            let hint = " An event id names one event for ever: if two sources reuse ids for different events, read one of them into "
                + "other deliveries (--delivery-key, e.g. --delivery-key transmission_id for SparkPost) or give it ids of its own; "
                + "--skip-invalid appends the rest and writes this event to --reject-file."
            return CLIError("\(locate(index)) (id '\(id)'): \(earlier) for \(whose) with different content." + suffix + (skipInvalid ? "" : hint))
        case let .invalidEvent(index, id, validation):
            return CLIError("\(locate(index)) (id '\(id)'): \(validation)." + suffix)
        default:
            return CLIError("\(error)." + suffix)
        }
    }

    /// `+HH:MM` / `-HH:MM` (at most 18 hours) in seconds east of UTC.
    static func offsetSeconds(_ text: String) -> Int? {
        let parts = text.dropFirst().split(separator: ":")
        guard let sign = text.first, sign == "+" || sign == "-", parts.count == 2, parts[0].count == 2, parts[1].count == 2,
              let h = Int(parts[0]), let m = Int(parts[1]), h <= 18, m < 60, h * 3600 + m * 60 <= 18 * 3600 else { return nil }
        return (sign == "-" ? -1 : 1) * (h * 3600 + m * 60)
    }

    /// Replaces each directory by the `.eml` files in it, sorted by name; `notes` says which entries
    /// of a directory were left out (a feed file put beside the bounces is named, never dropped
    /// silently; hidden entries such as `.DS_Store` are not listed).
    private func expandDirectories(_ files: [String], notes: inout [String]) throws -> [String] {
        var result: [String] = []
        for file in files {
            var isDirectory: ObjCBool = false
            guard file != "-", FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory), isDirectory.boolValue else {
                result.append(file)
                continue
            }
            let entries = try FileManager.default.contentsOfDirectory(atPath: file)
            let names = entries.filter { $0.lowercased().hasSuffix(".eml") }.sorted()
            guard !names.isEmpty else { throw CLIError("\(file): is a directory with no .eml file; name the files to ingest") }
            let left = entries.filter { !$0.lowercased().hasSuffix(".eml") && !$0.hasPrefix(".") }.sorted()
            if !left.isEmpty {
                let shown = left.prefix(5).joined(separator: ", ") + (left.count > 5 ? ", …" : "")
                notes.append("Note: \(file): \(left.count) entr\(left.count == 1 ? "y" : "ies") not read, not .eml (\(shown)); a directory stands for its bounce messages: name other files to ingest them.")
            }
            result += names.map { URL(fileURLWithPath: file).appendingPathComponent($0).path }
        }
        return result
    }

}

/// Writes rejected records as they are found: SparkPost elements untouched, as one JSON array
/// (re-ingestable once fixed); JSON Lines records and providers' elements one a line — untouched, or,
/// for an element that spans several lines (cut from a pretty-printed array), its
/// ``RejectedRecord/singleLine`` (compact JSON), so that every line of the file is one record;
/// bounce messages one a line, **percent-encoded** (``percentEncodedLine(_:)``: `%`, CR and LF as
/// `%25`, `%0D`, `%0A`, every other byte as it is), so that decoding a line gives back the message's
/// exact bytes, line ends and trailing newlines included. A record of another line format that is
/// not JSON and spans several lines (a form-encoded body) is percent-encoded the same way.
/// Rejects of SparkPost, of bounce messages and of the other line formats cannot share one file:
/// that is an error (ingest the formats separately). The file is created (empty) at once.
final class RejectWriter {
    let path: String
    private let handle: FileHandle
    private var format: InputFormat?
    private var count = 0
    private var closed = false

    init(path: String) throws {
        self.path = path
        do {
            self.handle = try OutputFile.open(path)
        } catch {
            throw CLIError("cannot write the reject file: \(error). Nothing was appended.")
        }
    }

    /// Whether the file can be reopened after ``finish()`` (a pipe or FIFO cannot be truncated: its
    /// array is closed once, by ``finish(final:)``, and a conflict found at append adds to it).
    private lazy var seekable: Bool = lseek(handle.fileDescriptor, 0, SEEK_CUR) >= 0

    /// Writes `records`. `done` is said after the error when the write fails (what was appended).
    func write(_ records: [RejectedRecord], format: InputFormat, done: String = "Nothing was appended.") throws {
        guard !records.isEmpty else { return }
        let kind: InputFormat = format == .sparkpost || format == .dsn ? format : .jsonl
        if let known = self.format, known != kind {
            throw CLIError("records were rejected from \(Self.kindName(known)) and from \(Self.kindName(kind)); one --reject-file cannot hold both: ingest them separately. Nothing was appended.")
        }
        do {
            if closed {
                // Reopen the array closed by finish(): drop its "\n]\n".
                let end = try handle.seekToEnd()
                try handle.truncate(atOffset: end - 3)
                closed = false
            }
            self.format = kind
            var bytes: [UInt8] = []
            for r in records {
                if kind == .sparkpost {
                    bytes += Array((count == 0 ? "[\n" : ",\n").utf8)
                    bytes += r.raw
                } else if kind == .dsn {
                    bytes += Self.percentEncodedLine(r.raw) + [UInt8(ascii: "\n")]
                } else if r.raw.contains(0x0A) || r.raw.contains(0x0D) {
                    let first = r.raw.first { !(Self.isJSONWhitespace($0)) }
                    let json = first == UInt8(ascii: "{") || first == UInt8(ascii: "[")
                    bytes += (json ? r.singleLine : Self.percentEncodedLine(r.raw)) + [UInt8(ascii: "\n")]
                } else {
                    bytes += r.raw + [UInt8(ascii: "\n")]
                }
                count += 1
            }
            try handle.write(contentsOf: bytes)
        } catch {
            throw CLIError("cannot write the reject file \(path): \(Self.reason(error)). " + done)
        }
    }

    /// `bytes` on one line: `%`, CR and LF percent-encoded (`%25`, `%0D`, `%0A`, RFC 3986 §2.1's
    /// form), every other byte as it is — nothing trimmed, so that decoding the line (each `%XX` back
    /// to its byte) gives back exactly `bytes`.
    static func percentEncodedLine(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + bytes.count / 16)
        for b in bytes {
            switch b {
            case UInt8(ascii: "%"): out += Array("%25".utf8)
            case 0x0D: out += Array("%0D".utf8)
            case 0x0A: out += Array("%0A".utf8)
            default: out.append(b)
            }
        }
        return out
    }

    private static func isJSONWhitespace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

    private static func kindName(_ kind: InputFormat) -> String {
        switch kind {
        case .sparkpost: "SparkPost files"
        case .dsn: "bounce messages"
        default: "JSON Lines or providers' files"
        }
    }

    /// Empties the file (a run that failed with nothing appended): a regular file is truncated to 0
    /// bytes; a pipe keeps what it was sent.
    func empty() {
        guard seekable else { return }
        _ = try? handle.truncate(atOffset: 0)
        count = 0
        closed = false
        format = nil
    }

    /// Closes the SparkPost array (the file stays open: a conflict found at append may add a record;
    /// on a pipe only when `final`, since a pipe cannot be reopened).
    func finish(final: Bool = false, done: String = "Nothing was appended.") throws {
        guard format == .sparkpost, count > 0, !closed, final || seekable else { return }
        do { try handle.write(contentsOf: Array("\n]\n".utf8)) } catch {
            throw CLIError("cannot write the reject file \(path): \(Self.reason(error)). " + done)
        }
        closed = true
    }

    /// The system's reason for a failed write (Foundation's message is "The operation could not be
    /// completed" for a broken pipe).
    static func reason(_ error: any Error) -> String {
        posixCode(error).map { String(cString: strerror($0)) } ?? error.localizedDescription
    }

    /// The POSIX error code of a Foundation error (`FileHandle.write`), itself or underlying.
    static func posixCode(_ error: any Error) -> Int32? {
        var e: NSError? = error as NSError
        while let n = e {
            if n.domain == NSPOSIXErrorDomain { return Int32(n.code) }
            e = n.userInfo[NSUnderlyingErrorKey] as? NSError
        }
        return nil
    }
}

#if canImport(Glibc)
/// glibc's `malloc_trim(3)` (declared in `<malloc.h>`, which the Glibc module does not import):
/// returns the free memory of every arena to the system; `pad` bytes are kept at the heap's top.
@_silgen_name("malloc_trim")
private func malloc_trim(_ pad: Int) -> Int32
#endif
