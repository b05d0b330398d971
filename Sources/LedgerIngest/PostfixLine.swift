import DeliveryLedger
import Foundation

// Byte-level parsing of Postfix log lines (internal; the rules are documented on `PostfixLogReader`).
//
// Everything works on the line's bytes, so that binary garbage or invalid UTF-8 never traps: text is
// decoded (with replacement characters) only for the pieces that become event fields.

/// The time stamp at the start of a syslog line.
enum PostfixStamp: Equatable {
    /// A classic syslog stamp `Mmm dd HH:MM:SS[.fraction]`: no year, no zone (local time).
    case syslog(SyslogStamp)
    /// An RFC 3339 stamp with an offset (rsyslog `RSYSLOG_FileFormat`).
    case absolute(Instant)
}

/// The fields of a classic, year-less syslog stamp.
struct SyslogStamp: Equatable {
    var month: Int
    var day: Int
    var hour: Int
    var minute: Int
    var second: Int
    var millisecond: Int

    /// The instant of this stamp in `year`, read as local time in `zone`; `nil` when the date does
    /// not exist in that year (February 29 in a common year, April 31).
    func instant(year: Int, zone: SyslogZone) -> Instant? {
        guard let wall = Instant(year: year, month: month, day: day, hour: hour, minute: minute, second: second, millisecond: millisecond) else { return nil }
        return wall.adding(seconds: -Int64(zone.offset(atWallTime: wall)))
    }
}

/// The local time that year-less syslog stamps are written in: a fixed offset east of UTC, or a
/// named zone (IANA tz database, e.g. `Europe/Paris`) whose offset follows its daylight-saving rules.
struct SyslogZone: Sendable {
    var offsetSeconds: Int = 0
    var zone: TimeZone? = nil

    /// The offset east of UTC, in seconds, of the local wall time `wall` (read as if it were UTC).
    /// In a named zone: the offset in force at that local time; a wall time that occurs twice (the
    /// hour repeated when daylight saving ends) is read as its first occurrence, one that does not
    /// occur (the hour skipped when it starts) with the offset before the change.
    func offset(atWallTime wall: Instant) -> Int {
        guard let zone else { return offsetSeconds }
        let seconds = Double(wall.millisecondsSinceEpoch) / 1000
        let before = zone.secondsFromGMT(for: Date(timeIntervalSince1970: seconds - 86_400))
        let after = zone.secondsFromGMT(for: Date(timeIntervalSince1970: seconds + 86_400))
        let consistent = [before, after].filter { zone.secondsFromGMT(for: Date(timeIntervalSince1970: seconds - Double($0))) == $0 }
        if let first = consistent.max() { return first }
        return before
    }
}

/// The syslog prefix of a line: `<stamp> <host> <tag>: <body>`.
struct PostfixPrefix {
    var stamp: PostfixStamp
    /// The tag without its `[pid]` and `:`, e.g. `postfix/smtp`, `postfix-out/smtp`, `amavis`, `dovecot`.
    var tag: ArraySlice<UInt8>
    /// The Postfix program (the tag's last `/` component) when the tag has the Postfix shape
    /// `<syslog_name>/<program>`; `nil` for other programs (amavis, dovecot, …).
    var program: String?
    /// The message after `tag: ` (may be empty).
    var body: ArraySlice<UInt8>
}

/// What part of the syslog prefix could not be read.
enum PostfixPrefixFailure: Error, Equatable {
    case timestamp
    case host
    case tag
}

/// The parts of a Postfix message body `QUEUEID: key=value, key=value, …, status=WORD (text)`.
struct PostfixAttributes {
    /// `key=value` pairs before `status=`, in order; angle brackets around a value are removed.
    /// A value that opens `<` without closing it is kept with its `<` (and fails address parsing).
    var pairs: [(key: String, value: String)] = []
    /// The status word (`sent`, `deferred`, `bounced`, `SOFTBOUNCE`, `expired`, …); `nil` without
    /// `status=`; empty when the line ends right after `status=`.
    var status: String?
    /// The text after the status word without its surrounding parentheses (`250 2.0.0 Ok`); `nil`
    /// when there is none.
    var text: String?
    /// Whether the text was opened with `(` but the line ends without the closing `)`.
    var textCut: Bool = false

    func value(_ key: String) -> String? { pairs.first { $0.key == key }?.value }
}

enum PostfixLineParser {
    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")
    static let colon = UInt8(ascii: ":")
    static let comma = UInt8(ascii: ",")
    static let slash = UInt8(ascii: "/")
    static let openBracket = UInt8(ascii: "[")
    static let closeBracket = UInt8(ascii: "]")
    static let openParen = UInt8(ascii: "(")
    static let closeParen = UInt8(ascii: ")")
    static let lessThan = UInt8(ascii: "<")
    static let greaterThan = UInt8(ascii: ">")
    static let equals = UInt8(ascii: "=")
    static let dot = UInt8(ascii: ".")

    static let monthNames: [[UInt8]] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"].map { Array($0.utf8) }

    static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
    static func isAlnum(_ b: UInt8) -> Bool {
        isDigit(b) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
    }
    static func lower(_ b: UInt8) -> UInt8 { (b >= 0x41 && b <= 0x5A) ? b + 32 : b }

    static func text(_ bytes: ArraySlice<UInt8>) -> String { String(decoding: bytes, as: UTF8.self) }

    /// Whether the line is empty or only white space.
    static func isBlank(_ line: ArraySlice<UInt8>) -> Bool {
        line.allSatisfy { $0 == space || $0 == tab || $0 == 0x0D || $0 == 0x0C || $0 == 0x0B }
    }

    /// The first index of `needle` in `haystack` at or after `from`.
    static func find(_ needle: [UInt8], in haystack: ArraySlice<UInt8>, from: Int? = nil) -> Int? {
        guard !needle.isEmpty else { return from ?? haystack.startIndex }
        let first = needle[0]
        var i = from ?? haystack.startIndex
        let last = haystack.endIndex - needle.count
        while i <= last {
            if haystack[i] == first {
                var k = 1
                while k < needle.count && haystack[i + k] == needle[k] { k += 1 }
                if k == needle.count { return i }
            }
            i += 1
        }
        return nil
    }

    static let statusAttribute = Array(", status=".utf8)

    /// Whether the line carries a Postfix outcome attribute (`, status=`): such a line must be read
    /// or reported, never skipped silently.
    static func hasStatusAttribute(_ line: ArraySlice<UInt8>) -> Bool {
        find(statusAttribute, in: line) != nil
    }

    // MARK: Syslog prefix

    /// Parses `<stamp> <host> <tag>[<pid>]: <body>`.
    ///
    /// Stamps: classic `Mmm dd HH:MM:SS` (day space- or zero-padded, month name case-insensitive,
    /// an optional `.fraction` after the seconds) or RFC 3339 with an offset. The tag must end with
    /// `:` (a tag without it, as in some published samples, is a failure of `.tag`).
    static func prefix(_ line: ArraySlice<UInt8>) -> Result<PostfixPrefix, PostfixPrefixFailure> {
        var i = line.startIndex
        let end = line.endIndex
        let stamp: PostfixStamp
        if i < end, isDigit(line[i]) {
            var j = i
            while j < end, line[j] != space { j += 1 }
            guard let instant = Instant(rfc3339: text(line[i..<j])) else { return .failure(.timestamp) }
            stamp = .absolute(instant)
            i = j
        } else {
            guard let s = syslogStamp(line, &i) else { return .failure(.timestamp) }
            stamp = .syslog(s)
        }
        // One separator, then the host.
        guard i < end, line[i] == space else { return .failure(.host) }
        i += 1
        let hostStart = i
        while i < end, line[i] != space { i += 1 }
        guard i > hostStart, i < end else { return .failure(.host) }
        i += 1
        // The tag: `name[pid]:` or `name:`.
        let tagStart = i
        while i < end, line[i] != space { i += 1 }
        let token = line[tagStart..<i]
        guard let last = token.last, last == colon, token.count > 1 else { return .failure(.tag) }
        var name = token.dropLast()
        if name.last == closeBracket {
            guard let open = name.lastIndex(of: openBracket), open > name.startIndex,
                  name[(open + 1)..<(name.endIndex - 1)].allSatisfy(isDigit)
            else { return .failure(.tag) }
            name = name[name.startIndex..<open]
        }
        guard !name.isEmpty else { return .failure(.tag) }
        var program: String?
        if let slash = name.lastIndex(of: slash), slash > name.startIndex, slash < name.endIndex - 1 {
            program = text(name[(slash + 1)...])
        }
        let body = i < end ? line[(i + 1)...] : line[end...]
        return .success(PostfixPrefix(stamp: stamp, tag: name, program: program, body: body))
    }

    /// `Mmm dd HH:MM:SS[.fraction]` at `i`; on success `i` is just after the stamp.
    static func syslogStamp(_ line: ArraySlice<UInt8>, _ i: inout Int) -> SyslogStamp? {
        let end = line.endIndex
        var j = i
        guard end - j >= 15 else { return nil }
        let name = [lower(line[j]), lower(line[j + 1]), lower(line[j + 2])]
        guard let m = monthNames.firstIndex(of: name) else { return nil }
        j += 3
        guard line[j] == space else { return nil }
        j += 1
        if line[j] == space { j += 1 }  // space-padded day
        var day = 0
        var dayDigits = 0
        while j < end, isDigit(line[j]), dayDigits < 2 { day = day * 10 + Int(line[j] - 48); j += 1; dayDigits += 1 }
        guard dayDigits > 0, (1...31).contains(day), j < end, line[j] == space else { return nil }
        j += 1
        func two() -> Int? {
            guard j + 1 < end, isDigit(line[j]), isDigit(line[j + 1]) else { return nil }
            defer { j += 2 }
            return Int(line[j] - 48) * 10 + Int(line[j + 1] - 48)
        }
        guard let hour = two(), j < end, line[j] == colon else { return nil }
        j += 1
        guard let minute = two(), j < end, line[j] == colon else { return nil }
        j += 1
        guard let second = two(), hour <= 23, minute <= 59, second <= 60 else { return nil }
        var millisecond = 0
        if j < end, line[j] == dot {
            j += 1
            var count = 0
            while j < end, isDigit(line[j]) {
                if count < 3 { millisecond = millisecond * 10 + Int(line[j] - 48) }
                count += 1
                j += 1
            }
            guard count > 0 else { return nil }
            for _ in count..<max(count, 3) { millisecond *= 10 }
        }
        guard j == end || line[j] == space else { return nil }
        i = j
        // A leap second (`:60`) is kept in its minute.
        return SyslogStamp(month: m + 1, day: day, hour: hour, minute: minute, second: min(second, 59),
                           millisecond: second == 60 ? 999 : millisecond)
    }

    // MARK: Body

    /// Splits `QUEUEID: rest`: the queue id is 5…64 ASCII letters and digits (short hex ids, long ids,
    /// and `NOQUEUE`). `nil` when the body does not start that way (`warning: …`, `connect from …`).
    static func queueId(_ body: ArraySlice<UInt8>) -> (id: String, rest: ArraySlice<UInt8>)? {
        var i = body.startIndex
        while i < body.endIndex, isAlnum(body[i]) { i += 1 }
        let length = i - body.startIndex
        guard (5...64).contains(length), i < body.endIndex, body[i] == colon else { return nil }
        let id = text(body[body.startIndex..<i])
        var j = i + 1
        while j < body.endIndex, body[j] == space { j += 1 }
        return (id, body[j...])
    }

    /// Whether `rest` starts with `key=`.
    static func startsWith(_ rest: ArraySlice<UInt8>, _ key: String) -> Bool {
        let k = Array(key.utf8)
        return rest.count >= k.count && rest.prefix(k.count).elementsEqual(k)
    }

    /// Parses `key=value, key=value, …, status=WORD (text)` (Postfix `log_adhoc.c`; the qmgr line
    /// `from=<…>, status=expired, returned to sender` has the same shape).
    ///
    /// Values in angle brackets are read to the closing `>` (so a quoted local part with `, ` inside
    /// stays whole) and returned without the brackets; other values end at `, `. `status=` ends the
    /// pairs; the word ends at a space, `,` or `(`; the text is what the parentheses after the word
    /// enclose — to the **last** `)` of the line, since the text itself may hold parentheses
    /// (`(in reply to RCPT TO command)`). Trailing white space is ignored.
    static func attributes(_ rest: ArraySlice<UInt8>) -> PostfixAttributes {
        var out = PostfixAttributes()
        var end = rest.endIndex
        while end > rest.startIndex, rest[end - 1] == space || rest[end - 1] == tab || rest[end - 1] == 0x0D { end -= 1 }
        var i = rest.startIndex
        while i < end {
            // Key.
            let keyStart = i
            while i < end, rest[i] != equals, rest[i] != comma, rest[i] != space { i += 1 }
            guard i < end, rest[i] == equals, i > keyStart else {
                // Not a key=value pair: skip to the next ", ".
                while i < end, !(rest[i] == comma && i + 1 < end && rest[i + 1] == space) { i += 1 }
                i = min(end, i + 2)
                continue
            }
            let key = text(rest[keyStart..<i])
            i += 1
            if key == "status" {
                let wordStart = i
                while i < end, rest[i] != space, rest[i] != comma, rest[i] != openParen { i += 1 }
                out.status = text(rest[wordStart..<i])
                while i < end, rest[i] == space { i += 1 }
                if i < end, rest[i] == openParen {
                    if rest[end - 1] == closeParen, end - 1 > i {
                        out.text = text(rest[(i + 1)..<(end - 1)])
                    } else {
                        out.text = text(rest[(i + 1)..<end])
                        out.textCut = true
                    }
                } else if i < end {
                    out.text = text(rest[i..<end])
                }
                return out
            }
            // Value.
            let valueStart = i
            if i < end, rest[i] == lessThan {
                var j = i + 1
                while j < end, rest[j] != greaterThan { j += 1 }
                if j < end {
                    out.pairs.append((key, text(rest[(i + 1)..<j])))
                    i = j + 1
                } else {
                    out.pairs.append((key, text(rest[i..<end])))
                    i = end
                }
                // Anything up to the next ", " belongs to no pair (malformed); skip it.
                while i < end, !(rest[i] == comma && i + 1 < end && rest[i + 1] == space) { i += 1 }
            } else {
                while i < end, !(rest[i] == comma && i + 1 < end && rest[i + 1] == space) { i += 1 }
                out.pairs.append((key, text(rest[valueStart..<i])))
            }
            i = min(end, i + 2)
        }
        return out
    }

    /// For a bounce daemon line `QID: sender non-delivery notification: NEWQID` (and its siblings
    /// `sender delay notification`, `sender delivery status notification`, `postmaster non-delivery
    /// notification`): the queue id of the notification, NEWQID — the line's own queue id is the
    /// message the notification is about (Postfix `bounce_notify_verp.c`: `msg_info("%s: sender
    /// non-delivery notification: %s", queue_id, new_id)`, the new id from `post_mail_fopen`).
    /// `nil` when `rest` has not that shape.
    static func notificationId(_ rest: ArraySlice<UInt8>) -> String? {
        guard startsWith(rest, "sender ") || startsWith(rest, "postmaster ") else { return nil }
        let marker = Array(" notification: ".utf8)
        guard let at = find(marker, in: rest) else { return nil }
        let id = rest[(at + marker.count)...].prefix { $0 != 0x20 && $0 != 0x0D && $0 != 0x09 }
        guard !id.isEmpty, id.allSatisfy({ (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }) else { return nil }
        return String(decoding: id, as: UTF8.self)
    }

    /// The queue id named at the end of a relay's reply, `… queued as NEXTQID` (the id of the same
    /// message at the next hop), if any.
    static func queuedAs(_ text: String) -> String? {
        let bytes = Array(text.utf8)[...]
        let marker = Array("queued as ".utf8)
        var from = bytes.startIndex
        var found: String?
        while let at = find(marker, in: bytes, from: from) {
            var j = at + marker.count
            let start = j
            while j < bytes.endIndex, isAlnum(bytes[j]) { j += 1 }
            if j - start >= 5 { found = PostfixLineParser.text(bytes[start..<j]) }
            from = at + 1
        }
        return found
    }
}
