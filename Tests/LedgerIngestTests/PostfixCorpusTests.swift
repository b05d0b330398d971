import DeliveryLedger
import Foundation
import Testing
@testable import LedgerIngest

/// The shared Postfix corpus (corpus/postfix/README.txt), read file by file. Expected values are
/// worked out by hand from the files and the rules on `PostfixLogReader`.
@Suite("Postfix corpus")
struct PostfixCorpusTests {
    static let logs = ["modoboa-mail.log", "youyo-test.log", "youyo-test-iso8601.log", "youyo-test-milter.log"]

    @Test("every corpus log reads without error, with or without a year", arguments: logs)
    func readsWithoutError(name: String) throws {
        let bytes = try Postfix.bytes(name)
        for year in [nil, 2019] as [Int?] {
            let parsed = try PostfixLogReader.read(bytes, file: name, options: Postfix.options(year: year))
            #expect(parsed.rejected.isEmpty)
            for event in parsed.events {
                #expect(event.source == .postfix)
                #expect(event.delivery == "D1")
                #expect(event.id.hasPrefix("postfix:"))
                #expect(bytes.contains(bytes: event.raw), "raw must be the line's bytes")
                #expect(!event.raw.contains(0x0A))
                #expect(throws: Never.self) { try event.validate() }
            }
            // Every line is accounted for: an event, or a skip count (no line gives two events here).
            let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).count - (bytes.last == 0x0A ? 1 : 0)
            #expect(parsed.events.count + parsed.skipped.values.reduce(0, +) == lines)
        }
    }

    // MARK: youyo

    @Test("youyo: 4 sent lines → 4 delivered; the queue id with two recipients gives two messages")
    func youyoClassic() throws {
        let parsed = try Postfix.readCorpus("youyo-test.log", year: 2018)
        #expect(parsed.skipped == ["other": 18])
        #expect(parsed.events.map(\.kind) == [.delivered, .delivered, .delivered, .delivered])
        #expect(parsed.events.map(\.recipient) == ["test@example.to", "test2@example.to", "test@example.ccc", "test@example.ddd"])
        #expect(parsed.events.map(Postfix.queueId) == ["3D74ADB7400B", "3D74ADB7400B", "6526CDB7400B", "C6E0DDB74006"])
        // Oct 10 15:59:30 read as UTC in 2018 = 1539187170 s (the remote's "OK 1539154772" is 06:59:32Z,
        // i.e. 15:59:32 at +09:00, so UTC 15:59:30 is 8 h 59 min 58 s = 32398 s later).
        let first = parsed.events[0]
        #expect(first.occurredAt == Instant(millisecondsSinceEpoch: 1_539_187_170_000))
        #expect(first.occurredAt == Postfix.instant("2018-10-10T15:59:30Z"))
        #expect(first.id == "postfix:3D74ADB7400B:test@example.to:sent:1539187170000")
        #expect(first.response == "250 [Sniper] OK 1539154772 snipe-queue 10549")
        #expect(first.smtpCode == 250)
        #expect(first.enhancedStatus == "2.0.0")
        #expect(first.qualification == nil)
        #expect(first.final)
        #expect(first.raw == Array("Oct 10 15:59:30 mail postfix/smtp[1810]: 3D74ADB7400B: to=<test@example.to>, relay=example.to[192.168.0.20]:25, delay=1.7, delays=0.02/0/1.7/0.06, dsn=2.0.0, status=sent (250 [Sniper] OK 1539154772 snipe-queue 10549)".utf8))
        #expect(parsed.events[1].occurredAt == first.occurredAt)
        #expect(parsed.events[1].id == "postfix:3D74ADB7400B:test2@example.to:sent:1539187170000")
        #expect(parsed.events[2].response == "250 2.0.0 Ok: queued as 71111424269E")  // next hop not in the file: no hand-off
        #expect(parsed.events[2].occurredAt == Postfix.instant("2018-10-10T15:59:31Z"))
        #expect(parsed.events[3].response == "250 2.0.0 OK 1539154772 az9-v6si5976496plb.190 - gsmtp")
        #expect(parsed.events[3].occurredAt == Postfix.instant("2018-10-10T15:59:32Z"))
    }

    @Test("youyo: the server's local time is +09:00; with that offset the stamps match the remote's epoch")
    func youyoWithOffset() throws {
        let parsed = try Postfix.readCorpus("youyo-test.log", year: 2018, offset: 9 * 3600)
        #expect(parsed.events[0].occurredAt == Instant(secondsSinceEpoch: 1_539_154_770))  // 06:59:30Z
        #expect(parsed.events[3].occurredAt == Instant(secondsSinceEpoch: 1_539_154_772))  // the remote's "OK 1539154772"
    }

    @Test("youyo: without a year, the latest year not after the reference (Oct 10 read on 2025-06-01 → 2024)")
    func youyoInferredYear() throws {
        let parsed = try Postfix.readCorpus("youyo-test.log", reference: "2025-06-01T00:00:00Z")
        #expect(parsed.events[0].occurredAt == Postfix.instant("2024-10-10T15:59:30Z"))
        let later = try Postfix.readCorpus("youyo-test.log", reference: "2025-10-10T15:59:32Z")  // exactly the last line
        #expect(later.events[3].occurredAt == Postfix.instant("2025-10-10T15:59:32Z"))
        // Up to a day after the reference is still this year (clock skew, a server east of UTC);
        // more than a day, last year.
        let justBefore = try Postfix.readCorpus("youyo-test.log", reference: "2025-10-10T15:59:31.999Z")
        #expect(justBefore.events[3].occurredAt == Postfix.instant("2025-10-10T15:59:32Z"))
        let dayBefore = try Postfix.readCorpus("youyo-test.log", reference: "2025-10-09T15:59:31.999Z")
        #expect(dayBefore.events[3].occurredAt == Postfix.instant("2024-10-10T15:59:32Z"))
    }

    @Test("youyo ISO 8601: the same events as the classic file, shifted by one constant; +09:00 applied")
    func youyoISO() throws {
        let iso = try Postfix.readCorpus("youyo-test-iso8601.log")
        let classic = try Postfix.readCorpus("youyo-test.log", year: 2018, offset: 9 * 3600)
        #expect(iso.skipped == ["other": 18])
        #expect(iso.events.count == 4)
        // 2020-01-30T06:26:07.404714+09:00 = 2020-01-29T21:26:07.404Z (microseconds truncated).
        #expect(iso.events.map(\.occurredAt) == [
            Postfix.instant("2020-01-29T21:26:07.404Z"), Postfix.instant("2020-01-29T21:26:07.404Z"),
            Postfix.instant("2020-01-29T21:26:08.404Z"), Postfix.instant("2020-01-29T21:26:09.404Z"),
        ])
        #expect(iso.events[0].id == "postfix:3D74ADB7400B:test@example.to:sent:\(Postfix.instant("2020-01-29T21:26:07.404Z").millisecondsSinceEpoch)")
        func shape(_ e: Event) -> [String?] {
            [e.kind.rawValue, Postfix.queueId(e), e.recipient, e.response, e.enhancedStatus, e.smtpCode.map(String.init)]
        }
        #expect(iso.events.map(shape) == classic.events.map(shape))
        let shifts = zip(iso.events, classic.events).map { $0.occurredAt.millisecondsSinceEpoch - $1.occurredAt.millisecondsSinceEpoch }
        #expect(Set(shifts).count == 1)
        #expect(shifts[0] == Postfix.instant("2020-01-29T21:26:07.404Z").millisecondsSinceEpoch - 1_539_154_770_000)
    }

    @Test("youyo milter: messy lines (cut stamp, no ':' after [pid], blank lines) are counted, no error, no events")
    func youyoMilter() throws {
        let parsed = try Postfix.readCorpus("youyo-test-milter.log")
        #expect(parsed.events.isEmpty)
        #expect(parsed.rejected.isEmpty)
        // Line 1 (stamp cut to "021-02-06…") and lines 4–6, 9–15 (no ':' after [pid]) are unparsable;
        // lines 2–3 are cleanup lines (other); lines 7, 8, 16 are blank.
        #expect(parsed.skipped == ["unparsable": 11, "other": 2, "blank": 3])
    }

    // MARK: modoboa

    @Test("modoboa: 20 sent → delivered, the 2 status=deliverable probes are not deliveries")
    func modoboa() throws {
        let parsed = try Postfix.readCorpus("modoboa-mail.log", reference: "2017-11-20T00:00:00Z")
        #expect(parsed.events.count == 20)
        #expect(parsed.events.allSatisfy { $0.kind == .delivered })
        #expect(parsed.skipped == ["other": 497, "deliverable": 2])
        let byQueue = Dictionary(grouping: parsed.events, by: Postfix.queueId)
        // Address-verification probes (sender double-bounce@, dsn=2.1.5 / 2.0.0 via pipe): no event.
        #expect(byQueue["2847EE008E"] == nil)
        #expect(byQueue["E8BF5E00C4"] == nil)
        // The real message to info@test2.com after the probe: delivered at 11:03:26.
        let info = try #require(byQueue["1FEB7E00C4"]?.first)
        #expect(info.recipient == "info@test2.com")
        #expect(info.occurredAt == Postfix.instant("2017-11-16T11:03:26Z"))
        #expect(info.response == "250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 5DDDA1F30002")
        // LMTP to dovecot; year 2017 from the reference.
        let first = parsed.events[0]
        #expect(Postfix.queueId(first) == "A0320E00C3")
        #expect(first.recipient == "user@test.com")
        #expect(first.occurredAt == Postfix.instant("2017-11-16T11:00:20Z"))
        #expect(first.response == "250 2.0.0 <user@test.com> z5FOLrRhDVpddgAABvoInA Saved")
        // An aliased recipient: the message is `orig_to=`, the address sent to (`to=` is the alias's
        // target; Postfix's bounce_notify_verp.c reports the original recipient too).
        #expect(byQueue["AA3E6E00C3"]?.map(\.recipient) == ["noreply@modoboa.org"])
        // pipe: the text holds parentheses of its own; the response is everything inside the outer pair.
        #expect(byQueue["5E852E00C4"]?.first?.response == "delivered via dmarc-rua service (Importing report 5520130506303437380 received from google.com)")
        #expect(byQueue["5E852E00C4"]?.first?.smtpCode == nil)
        let perRecipient = Dictionary(grouping: parsed.events, by: \.recipient).mapValues(\.count)
        // Counted from the file: status=sent lines by orig_to, else to (7 lines carry orig_to).
        #expect(perRecipient == ["admin@test.com": 7, "noreply@modoboa.org": 6, "alias@test.com": 1, "user@test.com": 4,
                                 "info@test2.com": 1, "dmarc-aggrep@ngyn.org": 1])
    }

    @Test("modoboa: read more than a day before its Nov 16 11:00 lines, they are the previous year's; an hour before, this year's")
    func modoboaNoFuture() throws {
        let parsed = try Postfix.readCorpus("modoboa-mail.log", reference: "2017-11-15T10:00:00Z")
        #expect(parsed.events[0].occurredAt == Postfix.instant("2016-11-16T11:00:20Z"))
        let now = Postfix.instant("2017-11-15T10:00:00Z")
        #expect(parsed.events.allSatisfy { $0.occurredAt <= now })
        // An hour before: within the day of tolerance (PostfixLogReader.yearInferenceToleranceSeconds).
        let hourBefore = try Postfix.readCorpus("modoboa-mail.log", reference: "2017-11-16T10:00:00Z")
        #expect(hourBefore.events[0].occurredAt == Postfix.instant("2017-11-16T11:00:20Z"))
    }

    // MARK: grok single-line cases

    struct GrokCase: CustomStringConvertible {
        var name: String
        var program: String
        var line: String
        var expected: [String: Any]
        var description: String { name }
    }

    static func grokCases() throws -> [GrokCase] {
        let bytes = try Postfix.bytes("postfix-grok-patterns-line-cases.jsonl")
        return try bytes.split(separator: 0x0A).map { raw in
            let object = try #require(try JSONSerialization.jsonObject(with: Data(raw)) as? [String: Any])
            return GrokCase(name: try #require(object["case"] as? String), program: try #require(object["postfix_program"] as? String),
                            line: try #require(object["line"] as? String), expected: try #require(object["expected"] as? [String: Any]))
        }
    }

    /// The grok `postfix_keyvalue_data` of a delivery line, split independently of the reader:
    /// `k=v, k=v, …` with a trailing comma, angle brackets removed.
    static func keyValues(_ data: String) -> [String] {
        var s = Substring(data)
        if s.hasSuffix(",") { s = s.dropLast() }
        return s.components(separatedBy: ", ").map { pair in
            guard let eq = pair.firstIndex(of: "=") else { return pair }
            var value = pair[pair.index(after: eq)...]
            if value.hasPrefix("<") && value.hasSuffix(">") { value = value.dropFirst().dropLast() }
            return String(pair[..<eq]) + "=" + String(value)
        }
    }

    @Test("the corpus has the 36 grok cases with the status counts its README gives")
    func grokCaseCounts() throws {
        let cases = try Self.grokCases()
        #expect(cases.count == 36)
        let statuses = cases.compactMap { $0.expected["postfix_status"] as? String }
        #expect(statuses.filter { $0 == "sent" }.count == 9)
        #expect(statuses.filter { $0 == "bounced" }.count == 4)
        #expect(statuses.filter { $0 == "deferred" }.count == 2)
        #expect(statuses.filter { $0 == "expired" }.count == 2)
        #expect(statuses.filter { $0 == "undeliverable-but-not-cached" }.count == 1)
    }

    @Test("each grok case parses to the fields it lists")
    func grokCasesParse() throws {
        for c in try Self.grokCases() {
            let full = "Jan  5 10:00:00 mx postfix/\(c.program)[100]: \(c.line)"
            let parsed = try Postfix.read([full], year: 2024)
            let body = Array(c.line.utf8)[...]
            if let qid = c.expected["postfix_queueid"] as? String {
                #expect(PostfixLineParser.queueId(body)?.id == qid, "\(c)")
            }
            let status = c.expected["postfix_status"] as? String
            switch status {
            case "sent", "bounced", "deferred":
                let event = try #require(parsed.events.first, "\(c)")
                #expect(parsed.events.count == 1, "\(c)")
                #expect(event.kind == ["sent": EventKind.delivered, "bounced": .bounce, "deferred": .retry][status!], "\(c)")
                #expect(Postfix.queueId(event) == c.expected["postfix_queueid"] as? String, "\(c)")
                // The listed key=value data: the reader's pairs, and the event's recipient and code.
                let kv = Self.keyValues(try #require(c.expected["postfix_keyvalue_data"] as? String))
                let rest = try #require(PostfixLineParser.queueId(body)).rest
                let attributes = PostfixLineParser.attributes(rest)
                #expect(attributes.pairs.map { "\($0.key)=\($0.value)" } == kv, "\(c)")
                #expect(attributes.status == status, "\(c)")
                let to = try #require(kv.first { $0.hasPrefix("to=") }).dropFirst(3)
                let original = kv.first { $0.hasPrefix("orig_to=") }?.dropFirst(8)
                #expect(event.recipient == Address.normalize(String(original ?? to)), "\(c)")
                let dsn = kv.first { $0.hasPrefix("dsn=") }?.dropFirst(4)
                #expect(event.enhancedStatus == dsn.map(String.init), "\(c)")
                // The response field, whatever grok calls it (smtp/local/pipe/error response).
                if let key = c.expected.keys.first(where: { $0.hasSuffix("_response") }) {
                    #expect(event.response == c.expected[key] as? String, "\(c)")
                    #expect(attributes.text == c.expected[key] as? String, "\(c)")
                }
                #expect(event.id == "postfix:\(Postfix.queueId(event)):\(event.recipient):\(status!):\(Postfix.instant("2024-01-05T10:00:00Z").millisecondsSinceEpoch)")
            case "undeliverable-but-not-cached":
                #expect(parsed.events.isEmpty, "\(c)")
                #expect(parsed.skipped == ["undeliverable-but-not-cached": 1], "\(c)")
                #expect(PostfixLineParser.attributes(try #require(PostfixLineParser.queueId(body)).rest).text == c.expected["postfix_error_response"] as? String)
            case "expired":
                // No deferral of that queue id in the file: nothing timed out.
                #expect(parsed.events.isEmpty, "\(c)")
                #expect(parsed.skipped == ["expired": 1], "\(c)")
                let attributes = PostfixLineParser.attributes(try #require(PostfixLineParser.queueId(body)).rest)
                #expect(attributes.value("from") == c.expected["postfix_from"] as? String, "\(c)")
                #expect(attributes.status == "expired")
            default:
                // bounce notifications, qmgr bookkeeping and warnings, smtpd rejects: not outcomes.
                #expect(status == nil, "\(c)")
                #expect(parsed.events.isEmpty, "\(c)")
                #expect(parsed.skipped == ["other": 1], "\(c)")
                // grok's postfix_bounce_queueid is the notification's queue id: the line's last
                // (Postfix bounce_notify_verp.c logs "QID: sender non-delivery notification: NEWQID").
                if let notification = c.expected["postfix_bounce_queueid"] as? String {
                    let rest = try #require(PostfixLineParser.queueId(body)).rest
                    #expect(PostfixLineParser.notificationId(rest) == notification, "\(c)")
                }
            }
        }
    }

    @Test("grok cases, qualified by hand")
    func grokQualifications() throws {
        let cases = Dictionary(uniqueKeysWithValues: try Self.grokCases().map { ($0.name, $0) })
        func event(_ name: String) throws -> Event {
            let c = try #require(cases[name])
            return try #require(try Postfix.read(["Jan  5 10:00:00 mx postfix/\(c.program)[100]: \(c.line)"], year: 2024).events.first)
        }
        // Old `local` line: to= without angle brackets; orig_to (root@localhost) is the recipient.
        let local = try event("test/local_0001.yaml")
        #expect(local.kind == .delivered)
        #expect(local.recipient == "root@localhost")
        #expect(local.response == "delivered to command: procmail -a \"$EXTENSION\"")
        #expect(local.smtpCode == nil)
        // local bounce, dsn 5.1.1: hard user unknown; local text, so not known to be in band.
        let unknown = try event("test/local_0002.yaml")
        #expect(unknown.kind == .bounce && unknown.final)
        #expect(unknown.recipient == "ghdsgfhdslfh@localhost")
        #expect(unknown.qualification == Qualification(.hard, .userUnknown))
        #expect(unknown.inBand == nil)
        #expect(unknown.response == "unknown user: \"ghdsgfhdslfh\"")
        // Gmail's folded 550-5.7.1 spam block: in band, 550, soft refused (the address stays valid).
        let gmail = try event("test/smtp_0018.yaml")
        #expect(gmail.kind == .bounce && gmail.final)
        #expect(gmail.inBand == true)
        #expect(gmail.smtpCode == 550)
        #expect(gmail.enhancedStatus == "5.7.1")
        #expect(gmail.qualification == Qualification(.soft, .refused))
        #expect(gmail.qualifier?.hasPrefix(TextQualifier.builtIn.table.version + "#") == true)
        // Forwarding loop, 5.4.6: X.4.x → unreachable; final, soft.
        let loop = try event("test/pipe_0003.yaml")
        #expect(loop.kind == .bounce && loop.final)
        #expect(loop.qualification == Qualification(.soft, .unreachable))
        // pipe "user unknown", 5.1.1: hard.
        #expect(try event("test/pipe_0004.yaml").qualification == Qualification(.hard, .userUnknown))
        // 4.4.2 lost connection after 63495 s: retry, attempt 1, soft unreachable, no reply code.
        let suspended = try event("test/error_0001.yaml")
        #expect(suspended.kind == .retry && !suspended.final)
        #expect(suspended.attempt == 1)
        #expect(suspended.qualification == Qualification(.soft, .unreachable))
        #expect(suspended.enhancedStatus == "4.4.2")
        #expect(suspended.smtpCode == nil)
        #expect(suspended.inBand == nil)
        // 450 4.2.0 greylisting: a retry, in band text, never hard, code 450.
        let grey = try event("test/smtp_0026.yaml")
        #expect(grey.kind == .retry)
        #expect(grey.smtpCode == 450)
        #expect(grey.qualification?.type == .soft)
        let expected = TextQualifier.builtIn.qualify(text: grey.response ?? "", enhancedStatus: "4.2.0")
        #expect(grey.qualification == expected.qualification.temporary)
        #expect(grey.qualifier == expected.qualifierTag)
    }

    @Test("the 36 grok lines in one file: 15 events, the rest counted")
    func grokCasesAsOneFile() throws {
        let cases = try Self.grokCases()
        let lines = cases.enumerated().map { n, c in
            "Jan  5 10:\(n < 10 ? "0" : "")\(n):00 mx postfix/\(c.program)[100]: \(c.line)"
        }
        let parsed = try Postfix.read(lines, year: 2024)
        #expect(parsed.events.count == 15)
        #expect(parsed.events.filter { $0.kind == .delivered }.count == 9)
        #expect(parsed.events.filter { $0.kind == .bounce }.count == 4)
        #expect(parsed.events.filter { $0.kind == .retry }.count == 2)
        #expect(parsed.skipped == ["other": 18, "expired": 2, "undeliverable-but-not-cached": 1])
    }
}
