import DeliveryLedger
import Foundation
import Testing
@testable import LedgerIngest

/// A Postfix per-recipient delivery line (log_adhoc.c field order).
private func deliveryLine(_ stamp: String, _ qid: String, to: String, dsn: String, status: String, _ text: String,
                          tag: String = "postfix/smtp[2001]") -> String {
    "\(stamp) mx \(tag): \(qid): to=<\(to)>, relay=mx.example.com[192.0.2.1]:25, delay=1.2, delays=0.1/0/0.5/0.6, dsn=\(dsn), status=\(status) (\(text))"
}

/// qmgr's expiry line.
private func expiredLine(_ stamp: String, _ qid: String, from: String = "news@sender.example", word: String = "expired") -> String {
    "\(stamp) mx postfix/qmgr[1000]: \(qid): from=<\(from)>, status=\(word), returned to sender"
}

private func ms(_ text: String) -> Int64 { Postfix.instant(text).millisecondsSinceEpoch }

@Suite("Postfix reader: years")
struct PostfixYearTests {
    @Test("Dec 31 lines read on Jan 1 are last year's")
    func decemberReadInJanuary() throws {
        let parsed = try Postfix.read([deliveryLine("Dec 31 23:59:00", "A1B2C3D4E5", to: "bob@example.com", dsn: "2.0.0", status: "sent", "250 ok")],
                                      reference: "2025-01-01T00:30:00Z")
        #expect(parsed.events.map(\.occurredAt) == [Postfix.instant("2024-12-31T23:59:00Z")])
    }

    @Test("a Dec → Jan rollover inside one file: inferred from the last line, or from a given year")
    func rollover() throws {
        let lines = [
            deliveryLine("Dec 31 23:59:58", "A1B2C3D4E5", to: "bob@example.com", dsn: "4.4.1", status: "deferred", "connect to mx.example.com[192.0.2.1]:25: Connection timed out"),
            "Jan  1 00:00:01 mx postfix/qmgr[1000]: A1B2C3D4E5: from=<news@sender.example>, size=1000, nrcpt=1 (queue active)",
            deliveryLine("Jan  1 00:00:05", "A1B2C3D4E5", to: "bob@example.com", dsn: "2.0.0", status: "sent", "250 ok"),
        ]
        let inferred = try Postfix.read(lines, reference: "2025-03-01T00:00:00Z")
        #expect(inferred.events.map(\.occurredAt) == [Postfix.instant("2024-12-31T23:59:58Z"), Postfix.instant("2025-01-01T00:00:05Z")])
        let given = try Postfix.read(lines, year: 2024, reference: "2025-03-01T00:00:00Z")
        #expect(given.events.map(\.occurredAt) == inferred.events.map(\.occurredAt))
        // The year names the first line's year, whatever the reference says.
        let future = try Postfix.read(lines, year: 2030)
        #expect(future.events.map(\.occurredAt) == [Postfix.instant("2030-12-31T23:59:58Z"), Postfix.instant("2031-01-01T00:00:05Z")])
        // Read on Jan 1 just after the last line: still 2024 → 2025.
        let early = try Postfix.read(lines, reference: "2025-01-01T00:00:05Z")
        #expect(early.events.map(\.occurredAt) == inferred.events.map(\.occurredAt))
    }

    @Test("two rollovers in one file (Nov → Jan → Dec → Jan)")
    func twoRollovers() throws {
        let lines = [
            deliveryLine("Nov 20 10:00:00", "AAAAA11111", to: "a@example.com", dsn: "2.0.0", status: "sent", "250 ok"),
            deliveryLine("Jan  3 10:00:00", "AAAAA22222", to: "b@example.com", dsn: "2.0.0", status: "sent", "250 ok"),
            deliveryLine("Jun  3 10:00:00", "AAAAA33333", to: "c@example.com", dsn: "2.0.0", status: "sent", "250 ok"),
            deliveryLine("Dec 30 10:00:00", "AAAAA44444", to: "d@example.com", dsn: "2.0.0", status: "sent", "250 ok"),
            deliveryLine("Jan  2 10:00:00", "AAAAA55555", to: "e@example.com", dsn: "2.0.0", status: "sent", "250 ok"),
        ]
        let parsed = try Postfix.read(lines, reference: "2025-02-01T00:00:00Z")
        #expect(parsed.events.map(\.occurredAt) == [
            Postfix.instant("2023-11-20T10:00:00Z"), Postfix.instant("2024-01-03T10:00:00Z"), Postfix.instant("2024-06-03T10:00:00Z"),
            Postfix.instant("2024-12-30T10:00:00Z"), Postfix.instant("2025-01-02T10:00:00Z"),
        ])
    }

    @Test("a late December line among January's (interleaved syslog writers) stays in the old year")
    func interleavedAcrossRollover() throws {
        let lines = [
            deliveryLine("Jan  1 00:00:01", "AAAAA11111", to: "a@example.com", dsn: "2.0.0", status: "sent", "250 ok"),
            deliveryLine("Dec 31 23:59:59", "AAAAA22222", to: "b@example.com", dsn: "2.0.0", status: "sent", "250 ok"),
            deliveryLine("Jan  1 00:00:02", "AAAAA33333", to: "c@example.com", dsn: "2.0.0", status: "sent", "250 ok"),
        ]
        let expected = [Postfix.instant("2025-01-01T00:00:01Z"), Postfix.instant("2024-12-31T23:59:59Z"), Postfix.instant("2025-01-01T00:00:02Z")]
        #expect(try Postfix.read(lines, reference: "2025-02-01T00:00:00Z").events.map(\.occurredAt) == expected)
        #expect(try Postfix.read(lines, year: 2025).events.map(\.occurredAt) == expected)
    }

    @Test("lines out of order (Dec 31 before Nov 30, read Dec 4): no line lands in the future — the whole file goes a year back")
    func outOfOrderLinesStayInThePast() throws {
        let lines = [
            deliveryLine("Dec 31 23:00:00", "AAAAA11111", to: "v1@example.com", dsn: "2.0.0", status: "sent", "250 ok"),
            deliveryLine("Nov 30 01:00:00", "AAAAA22222", to: "v2@example.com", dsn: "2.0.0", status: "sent", "250 ok"),
        ]
        // Anchored on the last line alone, Nov 30 is 2026 and Dec 31 (no rollover: one month back) 2026
        // too, 27 days after the reference; domain.md §7 puts no event in the future: both a year back.
        let parsed = try Postfix.read(lines, reference: "2026-12-04T19:40:00Z")
        #expect(parsed.events.map(\.occurredAt) == [Postfix.instant("2025-12-31T23:00:00Z"), Postfix.instant("2025-11-30T01:00:00Z")])
        // In order, the same dates read on Jan 2 are this past year's.
        let ordered = try Postfix.read(lines.reversed(), reference: "2027-01-02T00:00:00Z")
        #expect(ordered.events.map(\.occurredAt) == [Postfix.instant("2026-11-30T01:00:00Z"), Postfix.instant("2026-12-31T23:00:00Z")])
    }

    @Test("a given year is used even when the reference is years later")
    func givenYear() throws {
        let parsed = try Postfix.read([deliveryLine("Oct 10 15:59:30", "A1B2C3D4E5", to: "bob@example.com", dsn: "2.0.0", status: "sent", "250 ok")],
                                      year: 2019, reference: "2025-06-01T00:00:00Z")
        #expect(parsed.events[0].occurredAt == Postfix.instant("2019-10-10T15:59:30Z"))
    }

    @Test("classic stamps are local time at the configured offset; the future is judged in UTC")
    func timeZone() throws {
        let line = deliveryLine("Jan  1 09:00:00", "A1B2C3D4E5", to: "bob@example.com", dsn: "2.0.0", status: "sent", "250 ok")
        // 09:00 at +09:00 is 00:00Z, before the reference 00:30Z: this year.
        let tokyo = try Postfix.read([line], reference: "2025-01-01T00:30:00Z", offset: 9 * 3600)
        #expect(tokyo.events[0].occurredAt == Postfix.instant("2025-01-01T00:00:00Z"))
        // Read as UTC (the default), 09:00Z is 8.5 h after the reference — within the day of
        // tolerance (a server east of UTC, a clock ahead): this year still, never a year back.
        let utc = try Postfix.read([line], reference: "2025-01-01T00:30:00Z")
        #expect(utc.events[0].occurredAt == Postfix.instant("2025-01-01T09:00:00Z"))
        // More than a day after the reference: last year.
        let later = deliveryLine("Jan  3 09:00:00", "A1B2C3D4E5", to: "bob@example.com", dsn: "2.0.0", status: "sent", "250 ok")
        #expect(try Postfix.read([later], reference: "2025-01-01T00:30:00Z").events[0].occurredAt == Postfix.instant("2024-01-03T09:00:00Z"))
        // A few minutes of clock skew never moves a file back a year.
        let skewed = deliveryLine("Dec  4 17:02:00", "A1B2C3D4E5", to: "bob@example.com", dsn: "2.0.0", status: "sent", "250 ok")
        #expect(try Postfix.read([skewed], reference: "2026-12-04T17:00:00Z").events[0].occurredAt == Postfix.instant("2026-12-04T17:02:00Z"))
        // A negative offset with a given year.
        let newYork = try Postfix.read([line], year: 2025, offset: -5 * 3600)
        #expect(newYork.events[0].occurredAt == Postfix.instant("2025-01-01T14:00:00Z"))
    }

    /// `--timezone Europe/Paris`: classic stamps follow daylight saving (CEST +02:00 until
    /// 2026-10-25 01:00Z, CET +01:00 after; CET until 2026-03-29 01:00Z, CEST after). The hour
    /// repeated in October is read as its first occurrence; the hour skipped in March with the offset
    /// before the change.
    @Test("a named time zone follows daylight saving")
    func namedZone() throws {
        func read(_ stamps: [String]) throws -> [Instant] {
            var options = Postfix.options(year: 2026)
            options.timeZone = TimeZone(identifier: "Europe/Paris")
            try #require(options.timeZone?.identifier == "Europe/Paris", "the IANA database (tzdata; Tools/install-deps installs it)")
            let text = stamps.enumerated().map { n, stamp in
                deliveryLine(stamp, "A1B2C3D4E\(n)", to: "r\(n)@example.com", dsn: "2.0.0", status: "sent", "250 ok") + "\n"
            }.joined()
            return try PostfixLogReader.read(Array(text.utf8), file: "mail.log", options: options).events.map(\.occurredAt)
        }
        #expect(try read(["Jul  1 12:00:00", "Oct 25 01:30:00", "Oct 25 02:30:00", "Oct 25 03:30:00", "Dec  1 12:00:00"]) == [
            Postfix.instant("2026-07-01T10:00:00Z"), Postfix.instant("2026-10-24T23:30:00Z"), Postfix.instant("2026-10-25T00:30:00Z"),
            Postfix.instant("2026-10-25T02:30:00Z"), Postfix.instant("2026-12-01T11:00:00Z"),
        ])
        #expect(try read(["Mar 29 01:30:00", "Mar 29 02:30:00", "Mar 29 03:30:00"]) == [
            Postfix.instant("2026-03-29T00:30:00Z"), Postfix.instant("2026-03-29T01:30:00Z"), Postfix.instant("2026-03-29T01:30:00Z"),
        ])
    }

    @Test("Feb 29 goes to the latest leap year; in a given common year it cannot be placed")
    func leapDay() throws {
        let line = deliveryLine("Feb 29 12:00:00", "A1B2C3D4E5", to: "bob@example.com", dsn: "2.0.0", status: "sent", "250 ok")
        let parsed = try Postfix.read([line], reference: "2025-06-01T00:00:00Z")
        #expect(parsed.events[0].occurredAt == Postfix.instant("2024-02-29T12:00:00Z"))
        let error = Postfix.error([line], year: 2025)
        #expect(error?.line == 1)
        #expect(error?.field == "timestamp")
        // Feb 29 anywhere in the file proves a leap year, even when the last line is Mar 1.
        let both = try Postfix.read([line, deliveryLine("Mar  1 00:01:00", "B1B2C3D4E5", to: "ann@example.com", dsn: "2.0.0", status: "sent", "250 ok")],
                                    reference: "2026-12-04T00:00:00Z")
        #expect(both.events.map(\.occurredAt) == [Postfix.instant("2024-02-29T12:00:00Z"), Postfix.instant("2024-03-01T00:01:00Z")])
        // A line that is no outcome with an impossible date is only counted.
        let other = try Postfix.read(["Feb 29 12:00:00 mx postfix/smtpd[1]: connect from a.example[192.0.2.9]"], year: 2025)
        #expect(other.skipped == ["unparsable": 1])
    }

    @Test("zero- and space-padded days, fractions of seconds, RFC 3339 stamps ignore year and offset")
    func stampShapes() throws {
        let lines = [
            deliveryLine("Nov 06 08:00:00", "AAAAA11111", to: "a@example.com", dsn: "2.0.0", status: "sent", "250 ok"),
            deliveryLine("Nov  6 08:00:01.250", "AAAAA22222", to: "b@example.com", dsn: "2.0.0", status: "sent", "250 ok"),
            deliveryLine("2024-11-06T08:00:02.123456-05:00", "AAAAA33333", to: "c@example.com", dsn: "2.0.0", status: "sent", "250 ok"),
        ]
        let parsed = try Postfix.read(lines, year: 2024, offset: 3600)
        #expect(parsed.events.map(\.occurredAt) == [
            Postfix.instant("2024-11-06T07:00:00Z"), Postfix.instant("2024-11-06T07:00:01.250Z"), Postfix.instant("2024-11-06T13:00:02.123Z"),
        ])
    }
}

@Suite("Postfix reader: outcomes")
struct PostfixOutcomeTests {
    @Test("bounced 550 5.1.1 → final bounce, hard user unknown, in band")
    func hardBounce() throws {
        let line = deliveryLine("Mar  3 10:00:00", "A1B2C3D4E5", to: "Bob.Smith@Example.COM", dsn: "5.1.1", status: "bounced",
                                "host mx.example.com[192.0.2.1] said: 550 5.1.1 <Bob.Smith@example.com>: Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command)")
        let parsed = try Postfix.read([line], year: 2025)
        let e = try #require(parsed.events.first)
        #expect(e.kind == .bounce && e.final)
        #expect(e.recipient == "Bob.Smith@example.com")
        #expect(e.delivery == "D1")
        #expect(e.qualification == Qualification(.hard, .userUnknown))
        #expect(e.inBand == true)
        #expect(e.smtpCode == 550)
        #expect(e.enhancedStatus == "5.1.1")
        #expect(e.response == "host mx.example.com[192.0.2.1] said: 550 5.1.1 <Bob.Smith@example.com>: Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command)")
        #expect(e.qualifier == TextQualifier.builtIn.qualify(text: e.response!, enhancedStatus: "5.1.1").qualifierTag)
        #expect(e.id == "postfix:A1B2C3D4E5:Bob.Smith@example.com:bounced:\(ms("2025-03-03T10:00:00Z"))")
        #expect(e.raw == Array(line.utf8))
        #expect(e.attempt == nil)
        #expect(e.source == .postfix)
    }

    @Test("bounced 552 5.2.2 mailbox full → final bounce, soft mailbox full")
    func mailboxFull() throws {
        let parsed = try Postfix.read([deliveryLine("Mar  3 10:00:00", "A1B2C3D4E5", to: "bob@example.com", dsn: "5.2.2", status: "bounced",
                                                    "host mx.example.com[192.0.2.1] said: 552 5.2.2 Mailbox full (in reply to end of DATA command)")], year: 2025)
        let e = try #require(parsed.events.first)
        #expect(e.kind == .bounce && e.final)
        #expect(e.qualification == Qualification(.soft, .mailboxFull))
        #expect(e.smtpCode == 552)
        #expect(e.enhancedStatus == "5.2.2")
    }

    @Test("a bounced with a temporary code is a final bounce, never hard")
    func temporaryBounce() throws {
        let parsed = try Postfix.read([deliveryLine("Mar  3 10:00:00", "A1B2C3D4E5", to: "bob@example.com", dsn: "4.1.1", status: "bounced",
                                                    "host mx.example.com[192.0.2.1] said: 450 4.1.1 <bob@example.com>: Recipient address rejected: User unknown (in reply to RCPT TO command)")], year: 2025)
        let e = try #require(parsed.events.first)
        #expect(e.kind == .bounce && e.final)
        #expect(e.qualification == Qualification(.soft, .userUnknown))
        #expect(e.smtpCode == 450)
    }

    @Test("a generic dsn=5.0.0 gives way to the text's specific code, which the event keeps")
    func genericDSN() throws {
        let parsed = try Postfix.read([deliveryLine("Mar  3 10:00:00", "A1B2C3D4E5", to: "bob@example.com", dsn: "5.0.0", status: "bounced",
                                                    "host mx.example.com[192.0.2.1] said: 550 5.1.1 no such user (in reply to RCPT TO command)")], year: 2025)
        #expect(parsed.events[0].enhancedStatus == "5.1.1")
        #expect(parsed.events[0].qualification == Qualification(.hard, .userUnknown))
    }

    @Test("SOFTBOUNCE (soft_bounce = yes) is a retry, never hard")
    func softBounce() throws {
        let parsed = try Postfix.read([deliveryLine("Mar  3 10:00:00", "A1B2C3D4E5", to: "bob@example.com", dsn: "5.1.1", status: "SOFTBOUNCE",
                                                    "host mx.example.com[192.0.2.1] said: 550 5.1.1 User unknown (in reply to RCPT TO command)")], year: 2025)
        let e = try #require(parsed.events.first)
        #expect(e.kind == .retry && !e.final)
        #expect(e.qualification == Qualification(.soft, .userUnknown))
        #expect(e.attempt == 1)
        #expect(e.id.hasSuffix(":SOFTBOUNCE:\(ms("2025-03-03T10:00:00Z"))"))
    }

    @Test("deferred twice, then qmgr expired → retry, retry, timeout with the last deferral's reason, soft")
    func expiry() throws {
        let lines = [
            deliveryLine("Mar  3 10:00:00", "A1B2C3D4E5", to: "bob@example.com", dsn: "4.4.1", status: "deferred",
                         "connect to mx.example.com[192.0.2.1]:25: Connection timed out"),
            deliveryLine("Mar  3 11:10:00", "A1B2C3D4E5", to: "bob@example.com", dsn: "4.2.2", status: "deferred",
                         "host mx.example.com[192.0.2.1] said: 452 4.2.2 Mailbox full (in reply to RCPT TO command)"),
            expiredLine("Mar  8 10:00:01", "A1B2C3D4E5"),
            "Mar  8 10:00:01 mx postfix/bounce[3001]: A1B2C3D4E5: sender non-delivery notification: B9C8D7E6F5",
            "Mar  8 10:00:01 mx postfix/qmgr[1000]: A1B2C3D4E5: removed",
        ]
        let parsed = try Postfix.read(lines, year: 2025)
        #expect(parsed.events.map(\.kind) == [.retry, .retry, .timeout])
        #expect(parsed.events.map(\.attempt) == [1, 2, 2])
        #expect(parsed.events[0].qualification == Qualification(.soft, .unreachable))
        #expect(parsed.events[1].qualification == Qualification(.soft, .mailboxFull))
        #expect(parsed.events[1].inBand == nil)  // inBand is for bounces only
        let t = parsed.events[2]
        #expect(t.final)
        #expect(t.recipient == "bob@example.com")
        #expect(t.qualification == Qualification(.soft, .mailboxFull))
        #expect(t.qualifier == parsed.events[1].qualifier)
        #expect(t.enhancedStatus == "4.2.2")
        #expect(t.smtpCode == 452)
        #expect(t.response == "host mx.example.com[192.0.2.1] said: 452 4.2.2 Mailbox full (in reply to RCPT TO command)")
        #expect(t.occurredAt == Postfix.instant("2025-03-08T10:00:01Z"))
        #expect(t.id == "postfix:A1B2C3D4E5:bob@example.com:expired:\(ms("2025-03-08T10:00:01Z"))")
        #expect(t.raw == Array(lines[2].utf8))
        #expect(parsed.skipped == ["other": 2])
    }

    @Test("deferred until expiry gives a timeout, never hard, even when the deferral text says user unknown")
    func expiryNeverHard() throws {
        let lines = [
            deliveryLine("Mar  3 10:00:00", "A1B2C3D4E5", to: "bob@example.com", dsn: "4.1.1", status: "deferred",
                         "host mx.example.com[192.0.2.1] said: 450 4.1.1 <bob@example.com>: Recipient address rejected: User unknown in local recipient table (in reply to RCPT TO command)"),
            expiredLine("Mar  8 10:00:00", "A1B2C3D4E5"),
        ]
        let parsed = try Postfix.read(lines, year: 2025)
        #expect(parsed.events.map(\.kind) == [.retry, .timeout])
        #expect(parsed.events[0].qualification == Qualification(.soft, .userUnknown))
        #expect(parsed.events[1].qualification == Qualification(.soft, .userUnknown))
        #expect(parsed.events.allSatisfy { $0.qualification?.type != .hard })
    }

    @Test("expiry times out only the deferred recipients without a final outcome; force-expired too")
    func expiryPerRecipient() throws {
        let lines = [
            deliveryLine("Mar  3 10:00:00", "A1B2C3D4E5", to: "a@example.com", dsn: "4.4.1", status: "deferred", "connect to mx.example.com[192.0.2.1]:25: Connection refused"),
            deliveryLine("Mar  3 10:00:00", "A1B2C3D4E5", to: "b@example.com", dsn: "4.4.1", status: "deferred", "connect to mx.example.com[192.0.2.1]:25: Connection refused"),
            deliveryLine("Mar  3 10:00:00", "A1B2C3D4E5", to: "c@example.com", dsn: "5.1.1", status: "bounced", "host mx.example.com[192.0.2.1] said: 550 5.1.1 unknown (in reply to RCPT TO command)"),
            deliveryLine("Mar  3 11:00:00", "A1B2C3D4E5", to: "a@example.com", dsn: "2.0.0", status: "sent", "250 2.0.0 Ok"),
            expiredLine("Mar  4 10:00:00", "A1B2C3D4E5", word: "force-expired"),
        ]
        let parsed = try Postfix.read(lines, year: 2025)
        #expect(parsed.events.map(\.kind) == [.retry, .retry, .bounce, .delivered, .timeout])
        #expect(parsed.events[3].attempt == 1)  // one deferral before it was delivered
        let t = parsed.events[4]
        #expect(t.recipient == "b@example.com")
        #expect(t.id == "postfix:A1B2C3D4E5:b@example.com:force-expired:\(ms("2025-03-04T10:00:00Z"))")
        #expect(t.qualification == Qualification(.soft, .unreachable))
    }

    @Test("a queue id's state ends at 'removed': a reused short id does not inherit deferrals")
    func removedForgets() throws {
        let lines = [
            deliveryLine("Mar  3 10:00:00", "A1B2C3D4E5", to: "bob@example.com", dsn: "4.4.1", status: "deferred", "connect to mx.example.com[192.0.2.1]:25: Connection refused"),
            "Mar  3 10:05:00 mx postfix/qmgr[1000]: A1B2C3D4E5: removed",
            deliveryLine("Mar  9 10:00:00", "A1B2C3D4E5", to: "bob@example.com", dsn: "4.4.1", status: "deferred", "connect to mx.example.com[192.0.2.1]:25: Connection refused"),
            expiredLine("Mar  9 11:00:00", "A1B2C3D4E5"),
            expiredLine("Mar  9 11:00:00", "FFFFF00000", from: ""),
        ]
        let parsed = try Postfix.read(lines, year: 2025)
        #expect(parsed.events.map(\.kind) == [.retry, .retry, .timeout])
        #expect(parsed.events.map(\.attempt) == [1, 1, 1])
        #expect(parsed.skipped == ["other": 1, "expired": 1])
    }

    @Test("address-verification probes are not deliveries")
    func probes() throws {
        let lines = [
            deliveryLine("Mar  3 10:00:00", "A1B2C3D4E5", to: "bob@example.com", dsn: "2.1.5", status: "deliverable", "250 2.1.5 Ok"),
            deliveryLine("Mar  3 10:00:01", "A1B2C3D4E6", to: "eve@example.com", dsn: "5.1.1", status: "undeliverable", "host mx said: 550 5.1.1 unknown"),
            deliveryLine("Mar  3 10:00:02", "A1B2C3D4E7", to: "joe@example.com", dsn: "5.1.1", status: "undeliverable-but-not-cached", "User unknown in virtual alias table"),
        ]
        let parsed = try Postfix.read(lines, year: 2025)
        #expect(parsed.events.isEmpty)
        #expect(parsed.skipped == ["deliverable": 1, "undeliverable": 1, "undeliverable-but-not-cached": 1])
    }

    /// Postfix logs `orig_to=` when an alias or map rewrote the recipient (log_adhoc.c): the event is
    /// the original address's, the one the sender gave.
    @Test("orig_to is the recipient when present")
    func originalRecipient() throws {
        let lines = [
            "Mar  3 10:00:00 mx postfix/smtp[2001]: A1B2C3D4E5: to=<jdoe@corp-mail.example>, orig_to=<john.doe@corp.example>, relay=mx.corp-mail.example[192.0.2.1]:25, delay=1.2, delays=0.1/0/0.5/0.6, dsn=5.1.1, status=bounced (host mx.corp-mail.example[192.0.2.1] said: 550 5.1.1 <jdoe@corp-mail.example>: User unknown (in reply to RCPT TO command))",
            deliveryLine("Mar  3 10:00:01", "A1B2C3D4E6", to: "ann@example.com", dsn: "2.0.0", status: "sent", "250 ok"),
        ]
        let parsed = try Postfix.read(lines, year: 2025)
        #expect(parsed.events.map(\.recipient) == ["john.doe@corp.example", "ann@example.com"])
        #expect(parsed.events.first?.qualification == Qualification(.hard, .userUnknown))
    }

    @Test("DSNs Postfix writes itself are not messages of the delivery")
    func notifications() throws {
        let lines = [
            deliveryLine("Mar  3 10:00:00", "A1B2C3D4E5", to: "bob@example.com", dsn: "5.1.1", status: "bounced", "host mx said: 550 5.1.1 unknown (in reply to RCPT TO command)"),
            "Mar  3 10:00:00 mx postfix/cleanup[3002]: B9C8D7E6F5: message-id=<20250303100000.B9C8D7E6F5@mx.example.net>",
            "Mar  3 10:00:00 mx postfix/bounce[3001]: A1B2C3D4E5: sender non-delivery notification: B9C8D7E6F5",
            "Mar  3 10:00:00 mx postfix/qmgr[1000]: B9C8D7E6F5: from=<>, size=3000, nrcpt=1 (queue active)",
            deliveryLine("Mar  3 10:00:01", "B9C8D7E6F5", to: "news@sender.example", dsn: "2.0.0", status: "sent", "250 2.0.0 Ok"),
        ]
        let parsed = try Postfix.read(lines, year: 2025)
        #expect(parsed.events.map(\.recipient) == ["bob@example.com"])
        #expect(parsed.skipped == ["other": 3, "notification": 1])
    }

    @Test("a hand-off to a content filter is not a delivery when the next hop is in the file")
    func handoff() throws {
        let lines = [
            "Mar  3 10:00:00 mx postfix/smtp[2001]: A1B2C3D4E5: to=<bob@example.com>, relay=127.0.0.1[127.0.0.1]:10024, delay=0.5, delays=0.1/0/0/0.4, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as C0FFEE1234)",
            deliveryLine("Mar  3 10:00:05", "C0FFEE1234", to: "bob@example.com", dsn: "4.4.1", status: "deferred", "connect to mx.example.com[192.0.2.1]:25: Connection timed out"),
            // The same shape to a recipient the next hop does not carry stays a delivery.
            "Mar  3 10:01:00 mx postfix/smtp[2001]: A1B2C3D4E6: to=<eve@example.com>, relay=127.0.0.1[127.0.0.1]:10024, delay=0.5, delays=0.1/0/0/0.4, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as C0FFEE1234)",
        ]
        let parsed = try Postfix.read(lines, year: 2025)
        #expect(parsed.events.map(\.kind) == [.retry, .delivered])
        #expect(parsed.events.map(\.recipient) == ["bob@example.com", "eve@example.com"])
        #expect(parsed.skipped == ["handoff": 1])
    }

    @Test("other programs and non-outcome Postfix lines are counted; other syslog names and tags without pid work")
    func programs() throws {
        let lines = [
            "Mar  3 10:00:00 mx amavis[14540]: (14540-09) Passed CLEAN {RelayedInbound}, <a@b.example> -> <bob@example.com>",
            "Mar  3 10:00:00 mx dovecot: lmtp(bob@example.com): stored mail into mailbox 'INBOX'",
            "Mar  3 10:00:00 mx postfix/smtpd[1]: NOQUEUE: reject: RCPT from x[192.0.2.9]: 550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown; from=<a@b.example> to=<bob@example.com> proto=ESMTP helo=<x>",
            "Mar  3 10:00:00 mx postfix/smtp[2]: Anonymous TLS connection established to mx.example.com[192.0.2.1]:25: TLSv1.2",
            deliveryLine("Mar  3 10:00:01", "A1B2C3D4E5", to: "a@example.com", dsn: "2.0.0", status: "sent", "250 ok", tag: "postfix-out/smtp[77]"),
            deliveryLine("Mar  3 10:00:02", "A1B2C3D4E6", to: "b@example.com", dsn: "2.0.0", status: "sent", "250 ok", tag: "postfix/submission/lmtp"),
            deliveryLine("Mar  3 10:00:03", "A1B2C3D4E7", to: "c@example.com", dsn: "4.3.0", status: "deferred", "mail transport unavailable", tag: "postfix/qmgr[1000]"),
            deliveryLine("Mar  3 10:00:04", "A1B2C3D4E8", to: "d@example.com", dsn: "2.0.0", status: "delivered", "trace"),
        ]
        let parsed = try Postfix.read(lines, year: 2025)
        #expect(parsed.events.map(\.recipient) == ["a@example.com", "b@example.com", "c@example.com"])
        #expect(parsed.events.map(\.kind) == [.delivered, .delivered, .retry])
        #expect(parsed.skipped == ["other": 5])
    }

    @Test("ids are stable across re-reads; a repeated line is counted once as duplicate")
    func stableIds() throws {
        let line = deliveryLine("Mar  3 10:00:00", "A1B2C3D4E5", to: "bob@example.com", dsn: "2.0.0", status: "sent", "250 ok")
        let first = try Postfix.read([line], year: 2025)
        let second = try Postfix.read([line], year: 2025)
        #expect(first.events == second.events)
        let twice = try Postfix.read([line, line], year: 2025)
        #expect(twice.events.count == 1)
        #expect(twice.skipped == ["duplicate": 1])
    }

    @Test("CRLF line ends and a last line without a terminator")
    func lineEnds() throws {
        let a = deliveryLine("Mar  3 10:00:00", "A1B2C3D4E5", to: "a@example.com", dsn: "2.0.0", status: "sent", "250 ok")
        let b = deliveryLine("Mar  3 10:00:01", "A1B2C3D4E6", to: "b@example.com", dsn: "2.0.0", status: "sent", "250 ok")
        let parsed = try PostfixLogReader.read(Array((a + "\r\n" + b).utf8), file: "crlf.log", options: Postfix.options(year: 2025))
        #expect(parsed.events.map(\.recipient) == ["a@example.com", "b@example.com"])
        #expect(parsed.events[0].raw == Array(a.utf8))
        #expect(parsed.events[0].response == "250 ok")
    }
}

@Suite("Postfix reader: bad input")
struct PostfixBadInputTests {
    static let good = deliveryLine("Mar  3 10:00:00", "A1B2C3D4E5", to: "bob@example.com", dsn: "2.0.0", status: "sent", "250 ok")

    @Test("a line cut in half before its status is counted as unparsable; the rest is read")
    func cutBeforeStatus() throws {
        let full = deliveryLine("Mar  3 10:00:01", "A1B2C3D4E6", to: "eve@example.com", dsn: "5.1.1", status: "bounced", "550 5.1.1 unknown")
        let cut = String(full.prefix(full.count / 2))  // ends inside "relay=…"
        let parsed = try Postfix.read([Self.good, cut, "Mar  3 10:00:02 mx post"], year: 2025)
        #expect(parsed.events.count == 1)
        #expect(parsed.skipped == ["unparsable": 2])
    }

    @Test("a delivery line cut inside its status text still gives its event, with the text it has")
    func cutInsideText() throws {
        let line = "Mar  3 10:00:01 mx postfix/smtp[1]: A1B2C3D4E6: to=<eve@example.com>, relay=mx.example.com[192.0.2.1]:25, delay=1, delays=0/0/0.5/0.5, dsn=5.1.1, status=bounced (host mx.example.com[192.0.2.1] said: 550 5.1.1 <eve@exa"
        let parsed = try Postfix.read([line], year: 2025)
        let e = try #require(parsed.events.first)
        #expect(e.kind == .bounce)
        #expect(e.response == "host mx.example.com[192.0.2.1] said: 550 5.1.1 <eve@exa")
        #expect(e.qualification == Qualification(.hard, .userUnknown))
    }

    @Test("an outcome line whose time stamp was cut is an error naming line and field; skipInvalid rejects it")
    func cutAtStart() throws {
        let cut = String(Self.good.dropFirst(130))  // "…=2.0.0, status=sent (250 ok)"
        #expect(cut.contains(", status=sent"))
        let error = Postfix.error([Self.good, cut])
        #expect(error?.file == "mail.log")
        #expect(error?.line == 2)
        #expect(error?.field == "timestamp")
        let parsed = try Postfix.read([Self.good, cut, Self.good.replacingOccurrences(of: "bob@", with: "joe@")], year: 2025, skipInvalid: true)
        #expect(parsed.events.map(\.recipient) == ["bob@example.com", "joe@example.com"])
        #expect(parsed.rejected.count == 1)
        #expect(parsed.rejected.first?.raw == Array(cut.utf8))
        #expect(parsed.rejected.first?.error.line == 2)
    }

    @Test("outcome lines without a readable recipient, tag or status word are errors")
    func brokenOutcomes() throws {
        let noAddress = Self.good.replacingOccurrences(of: "to=<bob@example.com>", with: "to=<nobody>")
        #expect(Postfix.error(["", noAddress])?.line == 2)
        #expect(Postfix.error([noAddress])?.field == "to")
        let noTo = Self.good.replacingOccurrences(of: "to=<bob@example.com>, ", with: "")
        #expect(Postfix.error([noTo])?.field == "to")
        let noColon = Self.good.replacingOccurrences(of: "[2001]:", with: "[2001]")
        #expect(Postfix.error([noColon])?.field == "tag")
        let noWord = String(Self.good.prefix(upTo: Self.good.range(of: "status=")!.upperBound))
        #expect(Postfix.error([noWord])?.field == "status")
        let cutWord = noWord + "bou"
        #expect(Postfix.error([cutWord])?.field == "status")
        // Not an outcome: a tag without ':' is only counted (corpus youyo-test-milter.log).
        let milter = try Postfix.read(["2021-02-19T14:32:14.936091+01:00 smtp01.example.org postfix/smtpd[58176] E89FA2DEDA: client=srv05.source.com[10.11.12.13]"])
        #expect(milter.skipped == ["unparsable": 1])
    }

    @Test("binary garbage never traps: counted, no events, no error")
    func binaryGarbage() throws {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var bytes: [UInt8] = []
        for _ in 0..<65_536 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            bytes.append(UInt8(truncatingIfNeeded: state >> 56))
        }
        #expect(!bytes.contains(bytes: Array(", status=".utf8)))
        let parsed = try PostfixLogReader.read(bytes, file: "garbage.bin", options: Postfix.options())
        #expect(parsed.events.isEmpty)
        let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).count - (bytes.last == 0x0A ? 1 : 0)
        #expect(parsed.skipped.values.reduce(0, +) == lines)
        // Invalid UTF-8 inside a good line: decoded with replacement characters, raw kept exact.
        var line = Array(Self.good.utf8)
        line.insert(contentsOf: [0xFF, 0xFE, 0x00], at: line.count - 1)
        let odd = try PostfixLogReader.read(line, file: "odd.log", options: Postfix.options(year: 2025))
        #expect(odd.events.first?.raw == line)
        #expect(odd.events.first?.response == "250 ok\u{FFFD}\u{FFFD}\u{0}")
    }

    @Test("an empty file, blank lines, or no delivery line at all: zero events, no error")
    func empty() throws {
        let none = try PostfixLogReader.read([], file: "empty.log", options: Postfix.options())
        #expect(none.events.isEmpty && none.skipped.isEmpty && none.rejected.isEmpty)
        let blanks = try PostfixLogReader.read(Array("\n\r\n  \n".utf8), file: "blank.log", options: Postfix.options())
        #expect(blanks.events.isEmpty)
        #expect(blanks.skipped == ["blank": 3])
        let chatter = try Postfix.read(["Mar  3 10:00:00 mx postfix/smtpd[1]: connect from a.example[192.0.2.9]"])
        #expect(chatter.events.isEmpty)
        #expect(chatter.skipped == ["other": 1])
    }

    @Test("invalid options are errors naming the option")
    func invalidOptions() {
        func field(_ options: PostfixOptions) -> String? {
            do {
                _ = try PostfixLogReader.read(Array(Self.good.utf8), file: "x.log", options: options)
                return nil
            } catch {
                return error.field
            }
        }
        #expect(field(Postfix.options(delivery: "")) == "delivery")
        #expect(field(Postfix.options(year: 1969)) == "year")
        #expect(field(Postfix.options(offset: 19 * 3600)) == "timeZoneOffsetSeconds")
    }
}
