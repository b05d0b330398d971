import DeliveryLedger
import Foundation

/// Options of one Postfix log read (``PostfixLogReader/read(_:file:options:)``).
public struct PostfixOptions: Sendable {
    /// The delivery these messages belong to: every event gets it as ``Event/delivery``
    /// (a Postfix log does not name the campaign). Required, 1…255 UTF-8 bytes.
    public var delivery: String
    /// The year of the **first** year-less (classic syslog) stamp of the file. Later stamps follow it
    /// over Dec → Jan rollovers (see ``PostfixLogReader``). `nil`: inferred from ``reference``.
    /// Must be 1970…9999 when given. RFC 3339 stamps carry their own year and ignore it.
    public var year: Int?
    /// The ingest time ("now"): without ``year``, years are chosen so that the file's last year-less
    /// line is not later than this instant (domain.md §7: "Dec 31 read on Jan 1 is last year").
    public var reference: Instant
    /// The offset east of UTC, in seconds, of the local time that classic syslog stamps are written in
    /// (e.g. `32400` for `+09:00`). Default `0`: year-less stamps are read as **UTC**. RFC 3339 stamps
    /// carry their own offset and ignore it. At most ±18 hours.
    public var timeZoneOffsetSeconds: Int = 0
    /// The named zone (IANA tz database, e.g. `Europe/Paris`) classic syslog stamps are written in,
    /// whose offset follows daylight saving; when given, ``timeZoneOffsetSeconds`` is not used. An
    /// hour repeated when daylight saving ends is read as its first occurrence.
    public var timeZone: TimeZone? = nil
    /// The text qualifier for failure texts (domain.md §5.3).
    public var qualifier: TextQualifier = .builtIn
    /// When `true`, a broken delivery line does not stop the read: it is returned in
    /// ``ParsedInput/rejected`` with its bytes (domain.md §8).
    public var skipInvalid: Bool = false

    /// Creates Postfix read options.
    ///
    /// - Parameters:
    ///   - delivery: the delivery id for every event (see ``delivery``).
    ///   - year: the year of the first year-less stamp, or `nil` to infer it (see ``year``).
    ///   - reference: the ingest time used to infer the year (see ``reference``).
    ///   - timeZoneOffsetSeconds: local time of year-less stamps, seconds east of UTC; `0` (UTC) by default.
    ///   - qualifier: the text qualifier, ``TextQualifier/builtIn`` by default.
    ///   - skipInvalid: collect broken delivery lines instead of failing, `false` by default.
    public init(delivery: String, year: Int? = nil, reference: Instant, timeZoneOffsetSeconds: Int = 0,
                qualifier: TextQualifier = .builtIn, skipInvalid: Bool = false) {
        self.delivery = delivery
        self.year = year
        self.reference = reference
        self.timeZoneOffsetSeconds = timeZoneOffsetSeconds
        self.qualifier = qualifier
        self.skipInvalid = skipInvalid
    }
}

/// Reads a Postfix mail log (`/var/log/mail.log`, `maillog`) into ledger events (domain.md §2, §7, §8;
/// reference/mta.md §6).
///
/// ## Lines
/// Lines end with `\n` or `\r\n`; line numbers count every line from 1. A line is
/// `<stamp> <host> <tag>[<pid>]: <message>` where the stamp is either
/// - classic syslog `Mmm dd HH:MM:SS` (day space- or zero-padded; an optional `.fraction`), which has
///   **no year and no zone**: it is local time at ``PostfixOptions/timeZoneOffsetSeconds`` (UTC by
///   default) and its year is inferred (below); or
/// - RFC 3339 with an offset (`2020-01-30T06:26:05.404714+09:00`), read as is (microseconds truncated
///   to milliseconds).
///
/// The tag of a Postfix line is `<syslog_name>/<program>` (`postfix/smtp`, `postfix-out/smtp`,
/// `postfix/submission/smtpd`); lines of other programs (amavis, dovecot, opendmarc…) and Postfix lines
/// that are not delivery outcomes (smtpd, cleanup, `queue active`, `removed`, TLS notes, NOQUEUE
/// rejects…) are counted in ``ParsedInput/skipped`` as `other`; blank lines as `blank`.
///
/// ## Delivery lines → events
/// `QUEUEID: to=<rcpt>, [orig_to=<…>,] relay=…, [conn_use=N,] delay=…, delays=a/b/c/d, dsn=X.Y.Z,
/// status=WORD (text)` from any Postfix program (in practice `smtp`, `lmtp`, `local`, `virtual`, `pipe`,
/// `error`, `discard`, `retry`, and `qmgr` for its own deferrals). `to=` may lack its angle brackets (old
/// `local` lines). One message per (queue id, recipient): the recipient is `orig_to=` when the line has
/// one (the address before an alias or map rewrote it: the one the sender gave), else `to=`, normalised
/// with `Address.normalize`; the delivery is ``PostfixOptions/delivery``.
/// - `status=sent` → `delivered`; `deferred` and `SOFTBOUNCE` (`soft_bounce = yes`) → `retry`;
///   `bounced` → `bounce`, final, `inBand: true` when the text shows the remote server's reply
///   (`… said: …`, `(in reply to … command)`), else `inBand` unknown (`nil`).
/// - `deliverable`, `undeliverable`, `undeliverable-but-not-cached` are address-verification probes,
///   not deliveries: counted in ``ParsedInput/skipped`` under the word itself. Other words (trace
///   reports) count as `other`.
/// - Failures are qualified by ``PostfixOptions/qualifier``: `qualify(text:enhancedStatus:replyCode:)`
///   with the status text and `dsn=`. The event takes the qualification, ``Event/qualifier`` =
///   `qualifierTag`, ``Event/enhancedStatus`` = the code the qualifier used, ``Event/smtpCode`` = the
///   reply code it used. A `retry` is never hard. A `bounced` with a temporary code (`dsn=4.x.x`, 4xx)
///   is still a final bounce (Postfix gave up) but never hard (domain.md §5.1).
/// - ``Event/response`` = the status text without its surrounding parentheses. A `delivered` also keeps
///   `dsn=` as ``Event/enhancedStatus`` and the reply code found in the text (for audit).
/// - ``Event/attempt``: on a `retry`, the number of deferrals of that (queue id, recipient) so far,
///   this one included (1 for the first); on a `delivered` / `bounce` after deferrals, the number of
///   deferrals before it (`nil` when none).
/// - ``Event/id`` = `postfix:<queue id>:<recipient>:<status word>:<line instant in ms>` — stable across
///   re-ingest of the same file with the same year (longer than 255 bytes: `postfix:sha256:<hex>` of
///   that text). A second line with the same id in one read is counted as `duplicate`.
///   ``Event/raw`` = the line's bytes (without the terminator).
///
/// ## Expiry → timeout
/// qmgr's `QUEUEID: from=<…>, status=expired, returned to sender` (or `status=force-expired`, after
/// `postsuper -e`) means the message's queue lifetime ran out: a `timeout` is appended for every
/// recipient of that queue id that was deferred earlier in the file and has no final outcome
/// (`sent`/`bounced`) since. Its qualification is the last deferral's reason with type **soft**
/// (domain.md §4), its qualifier, `smtpCode`, `enhancedStatus` and `response` are the last deferral's,
/// `attempt` is the number of deferrals, `occurredAt` and `raw` are the expired line's, and the status
/// word in its id is `expired` / `force-expired`. An expiry with no such recipient is counted as
/// `expired`. A queue id's state (deferrals, outcomes) is forgotten at its `removed` line and after an
/// expiry, as short queue ids are reused over time.
///
/// ## Lines that are not campaign messages
/// - Delivery notifications Postfix writes itself: the queue id a bounce daemon line announces
///   (`QID: sender non-delivery notification: NEWQID` — QID is the message it is about, NEWQID the
///   notification, as Postfix's `bounce_notify_verp.c` logs them — and the `delay`, `delivery status`
///   and `postmaster` siblings) is a DSN going back to the sender, not a message of the delivery;
///   its delivery lines are counted as `notification`.
/// - A content-filter hand-off: a `status=sent` whose reply ends `queued as NEXTQID`, when NEXTQID has a
///   delivery line for the **same** recipient later in the file, only moved the message to the next
///   queue (amavis, LMTP re-injection); it is counted as `handoff` and the next hop's outcome counts.
///
/// ## Years of classic stamps (domain.md §7)
/// Classic stamps of the file are taken in order; a month going **back** by more than 6 months from the
/// previous classic stamp starts the next year (Dec → Jan rollover), a month going **forward** by more
/// than 6 months goes back a year (a late December line after January's). This fixes every year relative
/// to the others. Then:
/// - with ``PostfixOptions/year``: the first classic stamp is in that year;
/// - without it: the **last** classic stamp is in the latest year in which its date is not later than
///   ``PostfixOptions/reference`` plus one day (read in the configured local time; the day absorbs a
///   clock ahead of the ingest host or a server east of the assumed offset), and earlier lines follow
///   backwards over the rollovers — a year further back while any stamp would land more than a day
///   after the reference (lines out of order). So no event lands more than a day in the future:
///   Dec 31 lines read on Jan 1 are last year's. When a stamp's date exists only in some years (Feb 29
///   anywhere in the file), the latest such year that holds every stamp is taken (up to 8 years back).
///   Re-ingesting a year-less file after a year has passed gives other instants (other ids): pass the
///   year to pin them.
/// A stamp whose date does not exist in its year (Feb 29 in a common year) cannot be placed.
///
/// ## Bad lines
/// A line whose prefix cannot be read (cut, garbage, binary, a tag without `:` after `[pid]`), a
/// delivery line cut before its `status=`, or one whose date does not exist, is counted as
/// `unparsable` — unless it carries `, status=`: a line that reports an outcome but cannot be read
/// (no stamp, no queue id, no parsable `to=` recipient, no status word) is an ``IngestError`` naming
/// the line and the field (`timestamp`, `tag`, `queue id`, `to`, `status`, …), or a
/// ``RejectedRecord`` with ``PostfixOptions/skipInvalid``. A delivery line cut inside its status text
/// still gives its event, with the text it has. Input without any delivery line gives zero events and
/// no error.
///
/// ``ParsedInput/format`` is `InputFormat(rawValue: "postfix")` when ``InputFormat`` has that case,
/// else ``InputFormat/auto`` (this reader is called directly, not through ``FeedReader``).
public enum PostfixLogReader {
    /// Reads a Postfix log.
    ///
    /// - Parameters:
    ///   - bytes: the log's bytes.
    ///   - file: the name used in errors.
    ///   - options: delivery id, year rules, qualifier, error handling.
    /// - Throws: ``IngestError`` for invalid options (`delivery`, `year`, `timeZoneOffsetSeconds`), and for
    ///   the first broken delivery line unless ``PostfixOptions/skipInvalid``.
    public static func read(_ bytes: [UInt8], file: String, options: PostfixOptions) throws(IngestError) -> ParsedInput {
        guard !options.delivery.isEmpty, options.delivery.utf8.count <= Event.maximumIdLength else {
            throw IngestError(file: file, field: "delivery", message: "the delivery id must be 1 to \(Event.maximumIdLength) bytes")
        }
        if let y = options.year, !(1970...9999).contains(y) {
            throw IngestError(file: file, field: "year", message: "must be 1970...9999, got \(y)")
        }
        guard options.timeZoneOffsetSeconds.magnitude <= 18 * 3600 else {
            throw IngestError(file: file, field: "timeZoneOffsetSeconds",
                              message: "must be within ±18 hours (±64800 s), got \(options.timeZoneOffsetSeconds)")
        }
        var reader = Reader(file: file, options: options)
        reader.split(bytes)
        reader.assignYears()
        reader.scanQueueIds()
        try reader.emit()
        return reader.result
    }

    /// The format token reported in ``ParsedInput/format``.
    static var reportedFormat: InputFormat { InputFormat(rawValue: "postfix") ?? .auto }

    /// Status words that are address-verification probe results, not deliveries.
    static let probeWords: Set<String> = ["deliverable", "undeliverable", "undeliverable-but-not-cached"]
}

extension PostfixLogReader {
    /// One line of the input, as far as it could be read.
    struct Line {
        var number: Int
        var bytes: ArraySlice<UInt8>
        var prefix: PostfixPrefix?
        var failure: PostfixPrefixFailure?
        /// The line's instant (classic stamps: after year assignment; `nil` when the date does not exist).
        var instant: Instant?
        /// For a classic stamp whose date does not exist in its year: that year.
        var impossibleYear: Int?
        /// `QUEUEID: rest` of a Postfix line's message.
        var queueId: String?
        var rest: ArraySlice<UInt8> = []
        /// The parsed `key=value, …, status=` pairs of a Postfix line with `to=` or `from=` first.
        var attributes: PostfixAttributes?
    }

    /// Per (queue id, recipient): deferrals so far and whether a final outcome was seen.
    struct RecipientState {
        var recipient: String
        var deferrals = 0
        var lastDeferral: TextQualification?
        var lastText: String?
        var final = false
    }

    struct Reader {
        let file: String
        let options: PostfixOptions
        var lines: [Line] = []
        var result = ParsedInput(format: PostfixLogReader.reportedFormat)
        /// Queue ids of notifications (DSNs) written by the bounce daemon.
        var notificationIds: Set<String> = []
        /// Queue id → (line index, recipient) of its delivery lines, for hand-off detection.
        var deliveryLines: [String: [(index: Int, recipient: String)]] = [:]
        /// Queue id → its recipients' states, in order of first appearance.
        var queues: [String: [RecipientState]] = [:]
        var emittedIds: Set<String> = []

        init(file: String, options: PostfixOptions) {
            self.file = file
            self.options = options
        }

        // MARK: Pass 1: lines and prefixes

        mutating func split(_ bytes: [UInt8]) {
            // A UTF-8 byte order mark before the first line (a log saved by a Windows editor) is no
            // part of it: the first line is read without it.
            var start = FeedReader.byteOrderMarkLength(bytes)
            var number = 0
            let all = bytes[...]
            func add(_ end: Int) {
                number += 1
                var e = end
                if e > start, all[e - 1] == 0x0D { e -= 1 }
                var line = Line(number: number, bytes: all[start..<e])
                switch PostfixLineParser.prefix(line.bytes) {
                case .success(let p):
                    line.prefix = p
                    if case .absolute(let instant) = p.stamp { line.instant = instant }
                case .failure(let f):
                    line.failure = f
                }
                lines.append(line)
            }
            var i = 0
            while i < bytes.count {
                if bytes[i] == 0x0A {
                    add(i)
                    start = i + 1
                }
                i += 1
            }
            if start < bytes.count { add(bytes.count) }
        }

        // MARK: Pass 2: years of classic stamps

        mutating func assignYears() {
            var indices: [Int] = []
            var stamps: [SyslogStamp] = []
            for (n, line) in lines.enumerated() {
                if case .syslog(let s)? = line.prefix?.stamp {
                    indices.append(n)
                    stamps.append(s)
                }
            }
            guard !stamps.isEmpty else { return }
            var relative = [Int](repeating: 0, count: stamps.count)
            for k in 1..<max(1, stamps.count) {
                let previous = stamps[k - 1].month, current = stamps[k].month
                relative[k] = relative[k - 1] + (previous - current > 6 ? 1 : (current - previous > 6 ? -1 : 0))
            }
            let offset = SyslogZone(offsetSeconds: options.timeZoneOffsetSeconds, zone: options.timeZone)
            let base: Int
            if let year = options.year {
                base = year
            } else {
                let last = stamps.count - 1
                let latest = PostfixLogReader.latestYear(of: stamps[last], notAfter: options.reference, zone: offset) - relative[last]
                // A date that exists only in some years (Feb 29) proves the year: the latest base, up
                // to 8 years back, in which every stamp's date exists — and in which no stamp lies more
                // than a day after the ingest time (lines out of order, e.g. files concatenated in the
                // wrong order, put an earlier line's date after the last one's: domain.md §7, no event
                // in the future).
                let latestAccepted = options.reference.adding(seconds: PostfixLogReader.yearInferenceToleranceSeconds)
                let candidates = (0...8).lazy.map { latest - $0 }
                let exists = { (b: Int) in stamps.indices.allSatisfy { stamps[$0].instant(year: b + relative[$0], zone: offset) != nil } }
                base = candidates.first { b in
                    exists(b) && stamps.indices.allSatisfy { stamps[$0].instant(year: b + relative[$0], zone: offset).map { $0 <= latestAccepted } ?? false }
                } ?? candidates.first(where: exists) ?? latest
            }
            for (k, n) in indices.enumerated() {
                let year = base + relative[k]
                if let instant = stamps[k].instant(year: year, zone: offset) {
                    lines[n].instant = instant
                } else {
                    lines[n].impossibleYear = year
                }
            }
        }

        // MARK: Pass 3: queue ids, notifications, hand-off targets

        mutating func scanQueueIds() {
            for n in lines.indices {
                guard let p = lines[n].prefix, p.program != nil, let (id, rest) = PostfixLineParser.queueId(p.body) else { continue }
                lines[n].queueId = id
                lines[n].rest = rest
                if PostfixLineParser.startsWith(rest, "to=") || PostfixLineParser.startsWith(rest, "from=") {
                    let attributes = PostfixLineParser.attributes(rest)
                    lines[n].attributes = attributes
                    if attributes.pairs.first?.key == "to", attributes.status != nil,
                       let rcpt = attributes.value("to").flatMap(Address.normalize) {
                        deliveryLines[id, default: []].append((n, rcpt))
                    }
                } else if let notification = PostfixLineParser.notificationId(rest) {
                    notificationIds.insert(notification)
                }
            }
        }

        // MARK: Pass 4: events

        mutating func skip(_ name: String) { result.skipped[name, default: 0] += 1 }

        mutating func reject(_ line: Line, field: String?, _ message: String) throws(IngestError) {
            let error = IngestError(file: file, line: line.number, field: field, message: message)
            guard options.skipInvalid else { throw error }
            result.rejected.append(RejectedRecord(error: error, raw: Array(line.bytes)))
        }

        mutating func emit() throws(IngestError) {
            for n in lines.indices {
                try handle(n)
            }
        }

        mutating func handle(_ n: Int) throws(IngestError) {
            let line = lines[n]
            if PostfixLineParser.isBlank(line.bytes) { return skip("blank") }
            let reportsOutcome = PostfixLineParser.hasStatusAttribute(line.bytes)
            guard let prefix = line.prefix else {
                guard reportsOutcome else { return skip("unparsable") }
                switch line.failure {
                case .timestamp?:
                    return try reject(line, field: "timestamp", "a line with a status= outcome whose time stamp cannot be read (expected 'Mmm dd HH:MM:SS' or RFC 3339 with an offset)")
                case .host?:
                    return try reject(line, field: "host", "a line with a status= outcome without a host name after its time stamp")
                default:
                    return try reject(line, field: "tag", "a line with a status= outcome whose syslog tag cannot be read (expected 'name[pid]: ' after the host)")
                }
            }
            guard line.instant != nil else {
                // A classic stamp whose date does not exist in its year (Feb 29 in a common year).
                return reportsOutcome ? try impossibleDate(line) : skip("unparsable")
            }
            guard prefix.program != nil else { return skip("other") }
            guard let queueId = line.queueId else {
                if reportsOutcome {
                    return try reject(line, field: "queue id", "a line with a status= outcome without a queue id ('QUEUEID: to=<…>, …')")
                }
                return skip("other")
            }
            guard let attributes = line.attributes else {
                if PostfixLineParser.startsWith(line.rest, "removed") { queues[queueId] = nil }
                if reportsOutcome {
                    return try reject(line, field: "to", "a line with a status= outcome without 'to=<recipient>' after its queue id")
                }
                return skip("other")
            }
            let firstKey = attributes.pairs.first?.key
            if firstKey == "from" {
                // qmgr: `from=<…>, size=…, nrcpt=… (queue active)` or `from=<…>, status=expired, …`.
                guard let word = attributes.status else { return skip("other") }
                guard word == "expired" || word == "force-expired" else {
                    if word.isEmpty { return try reject(line, field: "status", "the line ends after 'status=' (cut?)") }
                    return skip("other")
                }
                guard let instant = line.instant else { return try impossibleDate(line) }
                return try expire(queueId: queueId, word: word, at: instant, line: line)
            }
            // A delivery line: `to=` first.
            guard let word = attributes.status else {
                return skip("unparsable")  // cut before status=
            }
            guard firstKey == "to", let to = attributes.value("to"), !to.isEmpty else {
                return try reject(line, field: "to", "missing: a delivery line needs 'to=<recipient>' first")
            }
            if PostfixLogReader.probeWords.contains(word) { return skip(word) }
            let kind: EventKind
            switch word {
            case "sent": kind = .delivered
            case "deferred", "SOFTBOUNCE": kind = .retry
            case "bounced": kind = .bounce
            case "":
                return try reject(line, field: "status", "the line ends after 'status=' (cut?)")
            default:
                if attributes.text == nil {
                    return try reject(line, field: "status", "unknown status word '\(word.prefix(40))' without a text (a line cut inside its status?)")
                }
                return skip("other")
            }
            let final: String
            do { final = try Address.parse(to) } catch {
                return try reject(line, field: "to", "'\(to.prefix(80))' is not an address: \(error)")
            }
            // `orig_to=` is the address before Postfix rewrote it (an alias, virtual or canonical map:
            // log_adhoc.c logs it when it differs): the address the sender gave, the one its relay was
            // recorded for (RFC 3464's Original-Recipient; Postfix's own DSNs use it too).
            let recipient = attributes.value("orig_to").flatMap(Address.normalize) ?? final
            guard let instant = line.instant else { return try impossibleDate(line) }
            if notificationIds.contains(queueId) { return skip("notification") }
            let text = attributes.text ?? ""
            if kind == .delivered, isHandoff(queueId: queueId, recipient: final, text: text, index: n) {
                markFinal(queueId: queueId, recipient: recipient)
                return skip("handoff")
            }
            try outcome(kind: kind, word: word, queueId: queueId, recipient: recipient, dsn: attributes.value("dsn"),
                        text: text, at: instant, line: line)
        }

        mutating func impossibleDate(_ line: Line) throws(IngestError) {
            let year = line.impossibleYear.map(String.init) ?? "?"
            try reject(line, field: "timestamp", "the date does not exist in the inferred year \(year)")
        }

        /// Whether a `sent` reply names a next-hop queue id that has a later delivery line for the same recipient.
        func isHandoff(queueId: String, recipient: String, text: String, index: Int) -> Bool {
            guard let next = PostfixLineParser.queuedAs(text), next != queueId, let later = deliveryLines[next] else { return false }
            return later.contains { $0.index > index && $0.recipient == recipient }
        }

        mutating func state(queueId: String, recipient: String) -> RecipientState {
            queues[queueId]?.first { $0.recipient == recipient } ?? RecipientState(recipient: recipient)
        }

        mutating func store(queueId: String, _ s: RecipientState) {
            var list = queues[queueId] ?? []
            if let k = list.firstIndex(where: { $0.recipient == s.recipient }) { list[k] = s } else { list.append(s) }
            queues[queueId] = list
        }

        mutating func markFinal(queueId: String, recipient: String) {
            var s = state(queueId: queueId, recipient: recipient)
            s.final = true
            store(queueId: queueId, s)
        }

        func eventId(queueId: String, recipient: String, word: String, at instant: Instant) -> String {
            let id = "postfix:\(queueId):\(recipient):\(word):\(instant.millisecondsSinceEpoch)"
            if id.utf8.count <= Event.maximumIdLength { return id }
            return "postfix:" + IngestRules.contentHashId(Array(id.utf8)[...])
        }

        mutating func outcome(kind: EventKind, word: String, queueId: String, recipient: String, dsn: String?,
                              text: String, at instant: Instant, line: Line) throws(IngestError) {
            var s = state(queueId: queueId, recipient: recipient)
            let id = eventId(queueId: queueId, recipient: recipient, word: word, at: instant)
            guard !emittedIds.contains(id) else { return skip("duplicate") }
            var event = Event(id: id, kind: kind, delivery: options.delivery, recipient: recipient, occurredAt: instant,
                              final: kind != .retry, response: text.isEmpty ? nil : text, source: .postfix, raw: Array(line.bytes))
            let given = dsn.flatMap { EnhancedStatusCode($0) }
            switch kind {
            case .delivered:
                event.enhancedStatus = given?.description ?? TextQualifier.enhancedStatus(in: text)?.description
                event.smtpCode = TextQualifier.replyCode(in: text)
                event.attempt = s.deferrals > 0 ? s.deferrals : nil
            case .retry:
                let tq = options.qualifier.qualify(text: text, enhancedStatus: given?.description, replyCode: nil,
                                                   context: options.qualifier.hasHostAwareRules ? QualificationContext(event: event) : .none)
                s.deferrals += 1
                s.lastDeferral = tq
                s.lastText = text
                event.qualification = tq.qualification.temporary
                event.qualifier = tq.qualifierTag
                event.enhancedStatus = tq.enhancedStatus
                event.smtpCode = tq.replyCode
                event.attempt = s.deferrals
            default:  // bounce
                let tq = options.qualifier.qualify(text: text, enhancedStatus: given?.description, replyCode: nil,
                                                   context: options.qualifier.hasHostAwareRules ? QualificationContext(event: event) : .none)
                var q = tq.qualification
                let temporary = (tq.enhancedStatus.flatMap { EnhancedStatusCode($0) }?.isTemporary ?? false)
                    || (given?.isTemporary ?? false) || (tq.replyCode.map { (400..<500).contains($0) } ?? false)
                if temporary { q = q.temporary }
                event.qualification = q
                event.qualifier = tq.qualifierTag
                event.enhancedStatus = tq.enhancedStatus
                event.smtpCode = tq.replyCode
                event.inBand = PostfixLogReader.showsRemoteReply(text) ? true : nil
                event.attempt = s.deferrals > 0 ? s.deferrals : nil
            }
            if kind != .retry { s.final = true }
            try append(event, line: line)
            store(queueId: queueId, s)
        }

        mutating func expire(queueId: String, word: String, at instant: Instant, line: Line) throws(IngestError) {
            let pending = (queues[queueId] ?? []).filter { $0.deferrals > 0 && !$0.final }
            queues[queueId] = nil
            guard !pending.isEmpty else { return skip("expired") }
            for s in pending {
                guard let last = s.lastDeferral else { continue }
                let id = eventId(queueId: queueId, recipient: s.recipient, word: word, at: instant)
                guard !emittedIds.contains(id) else { skip("duplicate"); continue }
                // domain.md §4: a timeout's reason is the last soft failure's reason, type soft.
                let event = Event(
                    id: id, kind: .timeout, delivery: options.delivery, recipient: s.recipient, occurredAt: instant,
                    smtpCode: last.replyCode, enhancedStatus: last.enhancedStatus,
                    response: (s.lastText ?? "").isEmpty ? nil : s.lastText,
                    qualification: Qualification(.soft, last.qualification.reason), qualifier: last.qualifierTag,
                    attempt: s.deferrals, source: .postfix, raw: Array(line.bytes))
                try append(event, line: line)
            }
        }

        mutating func append(_ event: Event, line: Line) throws(IngestError) {
            do {
                try event.validate()
            } catch {
                let field: String = switch error.field {
                case "recipient": "to"
                case "occurredAt": "timestamp"
                case "enhancedStatus": "dsn"
                case "response", "smtpCode": "status"
                case "id": "queue id"
                default: error.field
                }
                return try reject(line, field: field, error.message)
            }
            emittedIds.insert(event.id)
            result.events.append(event)
            result.locations.append("line \(line.number)")
        }
    }

    /// Whether a status text carries the remote server's own reply (an in-band refusal):
    /// `host X[ip] said: …` or `(in reply to … command)`.
    static func showsRemoteReply(_ text: String) -> Bool {
        let bytes = Array(text.utf8)[...]
        return PostfixLineParser.find(Array(" said: ".utf8), in: bytes) != nil
            || PostfixLineParser.find(Array("in reply to ".utf8), in: bytes) != nil
    }

    /// The latest year in which the classic `stamp` (local time at `offsetSeconds`) is not after
    /// `reference`.
    /// How far after the ingest time a year-less stamp may lie and still be read in the current
    /// year: one day (a clock ahead of the ingest host's, or local time east of the offset assumed —
    /// UTC offsets reach +14 h).
    static let yearInferenceToleranceSeconds: Int64 = 86_400

    static func latestYear(of stamp: SyslogStamp, notAfter reference: Instant, zone: SyslogZone) -> Int {
        let local = reference.adding(seconds: Int64(zone.zone?.secondsFromGMT(for: Date(timeIntervalSince1970: Double(reference.millisecondsSinceEpoch) / 1000)) ?? zone.offsetSeconds)).rfc3339
        let referenceYear = Int(local.prefix(4)) ?? 1970
        // A stamp up to a day after the ingest time is this year's: a clock a little ahead, or a
        // server east of the offset assumed (the default is UTC), must not move a file back a year.
        let latestAccepted = reference.adding(seconds: yearInferenceToleranceSeconds)
        var year = referenceYear + 1
        while year >= referenceYear - 8 {
            if let instant = stamp.instant(year: year, zone: zone), instant <= latestAccepted { return year }
            year -= 1
        }
        return referenceYear
    }
}
