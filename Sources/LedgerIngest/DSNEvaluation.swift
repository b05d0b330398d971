import DeliveryLedger

/// Compares ``DSNReader`` results with a labelled bounce corpus (the Sisimai expectations file,
/// `corpus/sisimai/expectations.tsv`): the core of the `qualify-eval` tool and of the corpus test.
///
/// ## Mapping of Sisimai reasons to the ledger's (decided by the project)
/// | Sisimai reason | compared as |
/// |---|---|
/// | userunknown, hasmoved | User unknown |
/// | hostunknown, notaccept | Invalid domain |
/// | mailboxfull | Mailbox full |
/// | suspend | Account disabled |
/// | expired, networkerror, systemerror, systemfull, mailererror, toomanyconn | Unreachable |
/// | filtered, rejected, blocked, spamdetected, policyviolation, securityerror, virusdetected, contenterror, authfailure, requireptr, badreputation, norelaying, speeding, exceedlimit, mesgtoobig, notcompliantrfc, syntaxerror | Refused |
/// | onhold, undefined | Not defined |
/// | vacation | autoReply |
/// | feedback | complaint |
/// | delivered | delivered |
///
/// ## What our events compare as
/// - `bounce` and `retry`: their failure reason's label (e.g. `User unknown`);
/// - `timeout`: a timeout has two sides, the outcome (the MTA gave up when the message's lifetime
///   ran out) and the cause it carries (the last soft error, domain.md §4). Decision: against a
///   Sisimai `expired` row (the outcome; mapped to Unreachable) a timeout **agrees, whatever reason
///   it carries**; against any other row (Sisimai then names the cause, e.g. `requireptr` for a
///   message that expired after repeated 4.7.1 refusals) it is compared by **the reason it
///   carries**. Outside that comparison a timeout is labelled Unreachable;
/// - `delivered`, `autoReply`, `complaint`, `unsubscribe`: the kind's name.
///
/// A row is the expectation for one recipient of one file (`rcpt_index` = its order in the file);
/// it is compared with the event of the same order from that file. A file that gave an error, or
/// fewer events, leaves its rows `missing`, which count as disagreements in both figures.
///
/// ## Figures
/// - reason agreement: rows whose compared reason matches / all rows;
/// - hard/soft agreement: rows where "our type is hard" equals "Sisimai's hardbounce is yes", over
///   the rows whose expected reason is not Invalid domain (Sisimai calls hostunknown hard, Campaign
///   calls Invalid domain soft: domain.md §5.1).
public enum DSNEvaluation {
    /// One expected result (one row of `expectations.tsv`).
    public struct Expectation: Sendable, Hashable {
        /// The email's file name, e.g. `lhost-postfix-21.eml`.
        public var file: String
        /// 1-based order of the recipient's result within the file.
        public var recipientIndex: Int
        /// The Sisimai module (MTA / provider), e.g. `Postfix`.
        public var module: String
        /// The expected enhanced status code (may be a Sisimai pseudo code `X.0.9nn`), or empty.
        public var status: String
        /// The expected basic reply code, or empty.
        public var replyCode: String
        /// The Sisimai reason, e.g. `userunknown`.
        public var sisimaiReason: String
        /// Sisimai's hard-bounce flag.
        public var hardBounce: Bool

        /// What the reason compares as (see ``DSNEvaluation``), or `nil` for an unknown reason.
        public var expected: String? { DSNEvaluation.label(sisimaiReason: sisimaiReason) }
    }

    /// What the reader gave for one file.
    public struct FileOutcome: Sendable {
        /// The events, in order (empty on error).
        public var events: [Event]
        /// The error, when the read failed (an `IngestError` description), or a crash / hang note.
        public var error: String?
        /// Whether the read crashed or hung (only the tool, which reads each file in a child
        /// process with a time limit, can see this).
        public var crashed: Bool

        /// Creates a file outcome.
        public init(events: [Event] = [], error: String? = nil, crashed: Bool = false) {
            self.events = events
            self.error = error
            self.crashed = crashed
        }
    }

    /// One compared row.
    public struct Row: Sendable {
        /// The corpus row compared.
        public var expectation: Expectation
        /// What it compares as (see ``DSNEvaluation``).
        public var expected: String
        /// What our event compares as, or `missing` (plus the error when the file failed).
        public var got: String
        /// Our event's type is hard.
        public var gotHard: Bool
        /// The rule id that decided (from `Event.qualifier`, after `#`), or the kind.
        public var rule: String
        /// The start of the text that was qualified (the event's response) or of the error.
        public var snippet: String
        /// Whether the reasons agree.
        public var reasonAgrees: Bool
        /// Whether the hard/soft flags agree; `nil` when the row is not counted (expected Invalid domain).
        public var hardSoftAgrees: Bool?
    }

    /// The comparison of a corpus.
    public struct Report: Sendable {
        /// Every row, in the expectations' order.
        public var rows: [Row]
        /// Files read.
        public var filesRead: Int
        /// Files whose read crashed or hung (run in a child process with a time limit).
        public var crashes: [String]
        /// Files whose read ended in an error (file name → message).
        public var errors: [(String, String)]

        /// Rows whose reasons agree.
        public var reasonMatches: Int { rows.filter(\.reasonAgrees).count }
        /// reasonMatches / rows, 0…1.
        public var reasonAgreement: Double { rows.isEmpty ? 0 : Double(reasonMatches) / Double(rows.count) }
        /// Rows counted for hard/soft (expected reason not Invalid domain).
        public var hardSoftRows: Int { rows.filter { $0.hardSoftAgrees != nil }.count }
        /// Counted rows whose hard/soft flags agree.
        public var hardSoftMatches: Int { rows.filter { $0.hardSoftAgrees == true }.count }
        /// hardSoftMatches / hardSoftRows, 0…1.
        public var hardSoftAgreement: Double { hardSoftRows == 0 ? 0 : Double(hardSoftMatches) / Double(hardSoftRows) }
        /// Rows where the reason or the hard/soft flag differs.
        public var disagreements: [Row] { rows.filter { !$0.reasonAgrees || $0.hardSoftAgrees == false } }

        /// The report restricted to the rows of the development part (`heldOut: false`) or of the
        /// held-out part (``DSNEvaluation/heldOutModules(_:)``).
        public func part(heldOut: Bool) -> Report {
            let held = DSNEvaluation.heldOutModules(rows.map(\.expectation.module))
            let files = Set(rows.filter { held.contains($0.expectation.module) == heldOut }.map(\.expectation.file))
            return Report(rows: rows.filter { held.contains($0.expectation.module) == heldOut },
                          filesRead: files.count, crashes: crashes.filter { files.contains($0) },
                          errors: errors.filter { files.contains($0.0) })
        }

        /// Development figure minus held-out figure, in percentage points: (reason, hard/soft).
        public var generalisationGap: (reason: Double, hardSoft: Double) {
            let d = part(heldOut: false), h = part(heldOut: true)
            return ((d.reasonAgreement - h.reasonAgreement) * 100, (d.hardSoftAgreement - h.hardSoftAgreement) * 100)
        }

        /// The figures and the disagreements, for people.
        public func summary(verbose: Bool = false) -> String {
            func pct(_ v: Double) -> String {
                let t = (v * 1000).rounded() / 10
                return "\(t) %"
            }
            var lines: [String] = []
            lines.append("files read: \(filesRead), rows compared: \(rows.count)")
            lines.append("reason agreement:    \(reasonMatches)/\(rows.count) = \(pct(reasonAgreement))")
            lines.append("hard/soft agreement: \(hardSoftMatches)/\(hardSoftRows) = \(pct(hardSoftAgreement)) (rows whose expected reason is not Invalid domain)")
            let dev = part(heldOut: false), held = part(heldOut: true)
            let gap = generalisationGap
            func points(_ v: Double) -> String { "\((v * 10).rounded() / 10) points" }
            lines.append("development part (\(Set(dev.rows.map(\.expectation.module)).count) modules): reason \(dev.reasonMatches)/\(dev.rows.count) = \(pct(dev.reasonAgreement)), hard/soft \(dev.hardSoftMatches)/\(dev.hardSoftRows) = \(pct(dev.hardSoftAgreement))")
            lines.append("held-out part (\(Set(held.rows.map(\.expectation.module)).count) modules, every fifth by name): reason \(held.reasonMatches)/\(held.rows.count) = \(pct(held.reasonAgreement)), hard/soft \(held.hardSoftMatches)/\(held.hardSoftRows) = \(pct(held.hardSoftAgreement))")
            lines.append("gap (development − held-out): reason \(points(gap.reason)), hard/soft \(points(gap.hardSoft))")
            lines.append("held-out modules: \(DSNEvaluation.heldOutModules(rows.map(\.expectation.module)).sorted().joined(separator: ", "))")
            lines.append("crashes/hangs: \(crashes.count)\(crashes.isEmpty ? "" : " — " + crashes.joined(separator: ", "))")
            lines.append("files with a read error: \(errors.count)")
            if verbose {
                for (f, e) in errors { lines.append("  error \(f): \(e)") }
            }
            let list = verbose ? rows : disagreements
            lines.append(verbose ? "rows (file, rcpt, expected, got, rule, text):" : "disagreements (file, rcpt, expected, got, rule, text): \(list.count)")
            for r in list {
                let mark = r.reasonAgrees ? (r.hardSoftAgrees == false ? "~" : " ") : "✗"
                let hs = r.hardSoftAgrees == false ? " [hard: expected \(r.expectation.hardBounce ? "yes" : "no")]" : ""
                lines.append("\(mark) \(r.expectation.file)\t\(r.expectation.recipientIndex)\t\(r.expected) (\(r.expectation.sisimaiReason) \(r.expectation.status))\t\(r.got)\(hs)\t\(r.rule)\t\(r.snippet)")
            }
            return lines.joined(separator: "\n")
        }
    }

    /// The held-out part of the corpus, to measure how rules generalise (issue #14): the distinct
    /// MTA modules sorted by name (byte order), every fifth one (the 5th, 10th, …) held out.
    /// Deterministic: the same module list always gives the same split. Rules are written from the
    /// development part's disagreements; the held-out part's figures say how they do on MTAs the
    /// rules were not written from.
    public static func heldOutModules(_ modules: [String]) -> Set<String> {
        let sorted = Set(modules).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        return Set(sorted.enumerated().filter { ($0.offset + 1) % 5 == 0 }.map(\.element))
    }

    /// The project's mapping of a Sisimai reason (see ``DSNEvaluation``).
    public static func label(sisimaiReason: String) -> String? {
        switch sisimaiReason {
        case "userunknown", "hasmoved": FailureReason.userUnknown.label
        case "hostunknown", "notaccept": FailureReason.invalidDomain.label
        case "mailboxfull": FailureReason.mailboxFull.label
        case "suspend": FailureReason.accountDisabled.label
        case "expired", "networkerror", "systemerror", "systemfull", "mailererror", "toomanyconn": FailureReason.unreachable.label
        case "filtered", "rejected", "blocked", "spamdetected", "policyviolation", "securityerror", "virusdetected", "contenterror",
             "authfailure", "requireptr", "badreputation", "norelaying", "speeding", "exceedlimit", "mesgtoobig", "notcompliantrfc",
             "syntaxerror": FailureReason.refused.label
        case "onhold", "undefined": FailureReason.notDefined.label
        case "vacation": EventKind.autoReply.rawValue
        case "feedback": EventKind.complaint.rawValue
        case "delivered": EventKind.delivered.rawValue
        default: nil
        }
    }

    /// What an event compares as (see ``DSNEvaluation``).
    public static func label(of event: Event) -> String {
        switch event.kind {
        case .timeout: return FailureReason.unreachable.label
        case .bounce, .retry: return event.qualification?.reason.label ?? FailureReason.notDefined.label
        default: return event.kind.rawValue
        }
    }

    /// Parses `expectations.tsv` (a header line, then `file rcpt_index module module_kind status
    /// replycode reason hardbounce …` separated by tabs).
    public static func expectations(tsv: String) -> [Expectation] {
        var out: [Expectation] = []
        for (n, line) in tsv.split(separator: "\n", omittingEmptySubsequences: true).enumerated() where n > 0 {
            let c = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard c.count >= 8, let idx = Int(c[1]) else { continue }
            out.append(Expectation(file: c[0], recipientIndex: idx, module: c[2], status: c[4], replyCode: c[5],
                                   sisimaiReason: c[6], hardBounce: c[7] == "yes"))
        }
        return out
    }

    /// Compares the outcomes of the files (by file name) with the expectations.
    public static func compare(_ expectations: [Expectation], outcomes: [String: FileOutcome]) -> Report {
        var rows: [Row] = []
        for e in expectations {
            let expected = e.expected ?? "?\(e.sisimaiReason)"
            let outcome = outcomes[e.file]
            let countsHardSoft = expected != FailureReason.invalidDomain.label
            guard let events = outcome?.events, e.recipientIndex >= 1, e.recipientIndex <= events.count else {
                let why = outcome == nil ? "file not read" : (outcome?.error ?? "only \(outcome?.events.count ?? 0) events")
                rows.append(Row(expectation: e, expected: expected, got: "missing", gotHard: false, rule: "-",
                                snippet: String(why.prefix(120)), reasonAgrees: false, hardSoftAgrees: countsHardSoft ? false : nil))
                continue
            }
            let event = events[e.recipientIndex - 1]
            var got = label(of: event)
            // A timeout agrees with Sisimai's `expired`; against a cause Sisimai names, it is
            // compared by the reason it carries (see the type's documentation).
            if event.kind == .timeout, e.sisimaiReason != "expired" {
                got = event.qualification?.reason.label ?? got
            }
            let gotHard = event.qualification?.type == .hard
            let rule = event.qualifier.map { q in q.split(separator: "#").last.map(String.init) ?? q } ?? event.kind.rawValue
            let snippet = DSNStatusReport.collapseSpace(event.response ?? "").prefix(140)
            rows.append(Row(expectation: e, expected: expected, got: event.kind == .bounce || event.kind == .retry ? got : "\(got) (\(event.kind.rawValue))",
                            gotHard: gotHard, rule: rule, snippet: String(snippet), reasonAgrees: got == expected,
                            hardSoftAgrees: countsHardSoft ? (gotHard == e.hardBounce) : nil))
        }
        let crashes = outcomes.filter(\.value.crashed).map(\.key).sorted()
        let errors = outcomes.compactMap { k, v in v.error.map { (k, $0) } }.sorted { $0.0 < $1.0 }
        return Report(rows: rows, filesRead: outcomes.count, crashes: crashes, errors: errors)
    }
}
