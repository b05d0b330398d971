/// A point in time, UTC, with millisecond precision.
///
/// Every instant in the ledger (valid time `occurredAt`, transaction time `recordedAt`) is an
/// `Instant`. It is stored as a signed count of milliseconds since 1970-01-01T00:00:00Z
/// (the Unix epoch, no leap seconds), which is the precision domain.md §7 requires.
///
/// Text form: RFC 3339 in UTC with exactly three fractional digits, e.g.
/// `2026-11-29T14:05:00.000Z` (see ``rfc3339``); parsing accepts any RFC 3339 offset
/// and 0–9 fractional digits (see ``init(rfc3339:)``).
public struct Instant: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// Milliseconds since the Unix epoch, UTC.
    public var millisecondsSinceEpoch: Int64

    /// Creates an instant from milliseconds since the Unix epoch (UTC).
    public init(millisecondsSinceEpoch: Int64) {
        self.millisecondsSinceEpoch = millisecondsSinceEpoch
    }

    /// Creates an instant from whole seconds since the Unix epoch (UTC).
    public init(secondsSinceEpoch: Int64) {
        self.millisecondsSinceEpoch = secondsSinceEpoch * 1000
    }

    /// The earliest instant the ledger accepts: 1970-01-01T00:00:00.000Z.
    public static let earliest = Instant(millisecondsSinceEpoch: 0)
    /// The latest instant the ledger accepts: 9999-12-31T23:59:59.999Z.
    public static let latest = Instant(millisecondsSinceEpoch: 253_402_300_799_999)

    /// Whether the instant lies in the accepted range `earliest...latest`.
    public var isInAcceptedRange: Bool { self >= .earliest && self <= .latest }

    public static func < (lhs: Instant, rhs: Instant) -> Bool {
        lhs.millisecondsSinceEpoch < rhs.millisecondsSinceEpoch
    }

    /// This instant moved by a number of seconds (may be negative).
    public func adding(seconds: Int64) -> Instant {
        Instant(millisecondsSinceEpoch: millisecondsSinceEpoch + seconds * 1000)
    }

    /// This instant moved by a number of milliseconds (may be negative).
    public func adding(milliseconds: Int64) -> Instant {
        Instant(millisecondsSinceEpoch: millisecondsSinceEpoch + milliseconds)
    }

    public var description: String { rfc3339 }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let instant = Instant(rfc3339: text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "not an RFC 3339 instant: \(text)")
        }
        self = instant
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rfc3339)
    }
}

// MARK: - Civil calendar (proleptic Gregorian), from Howard Hinnant's days_from_civil algorithm.

extension Instant {
    /// Days since 1970-01-01 for a civil date (proleptic Gregorian calendar).
    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// Civil date for days since 1970-01-01.
    static func civilFromDays(_ z0: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }

    static func daysInMonth(year: Int64, month: Int64) -> Int64 {
        switch month {
        case 1, 3, 5, 7, 8, 10, 12: return 31
        case 4, 6, 9, 11: return 30
        default:
            let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
            return leap ? 29 : 28
        }
    }

    /// Creates an instant from civil UTC fields. Returns `nil` for an impossible date or time.
    public init?(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0, millisecond: Int = 0) {
        guard (1...12).contains(month), day >= 1,
              day <= Int(Instant.daysInMonth(year: Int64(year), month: Int64(month))),
              (0...23).contains(hour), (0...59).contains(minute), (0...59).contains(second),
              (0...999).contains(millisecond)
        else { return nil }
        let days = Instant.daysFromCivil(year: Int64(year), month: Int64(month), day: Int64(day))
        let secs = days * 86_400 + Int64(hour) * 3600 + Int64(minute) * 60 + Int64(second)
        self.init(millisecondsSinceEpoch: secs * 1000 + Int64(millisecond))
    }

    /// RFC 3339 text in UTC with millisecond precision, e.g. `2026-11-29T14:05:00.000Z`.
    public var rfc3339: String {
        let ms = millisecondsSinceEpoch
        var days = ms / 86_400_000
        var rem = ms % 86_400_000
        if rem < 0 { rem += 86_400_000; days -= 1 }
        let (y, m, d) = Instant.civilFromDays(days)
        let h = rem / 3_600_000, mi = (rem / 60_000) % 60, s = (rem / 1000) % 60, f = rem % 1000
        func pad(_ v: Int64, _ width: Int) -> String {
            let text = String(v)
            return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
        }
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(h, 2)):\(pad(mi, 2)):\(pad(s, 2)).\(pad(f, 3))Z"
    }

    /// Parses RFC 3339 / ISO 8601 extended date-time text: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
    ///
    /// Also accepted, as real feeds send them: a space or lower-case `t` instead of `T`, lower-case
    /// `z`, an offset without colon (`+0000`). Digits of the fraction beyond milliseconds are
    /// truncated. A leap second (`23:59:60`, RFC 3339 §5.6 and §5.7) is read as the last millisecond
    /// of its minute's second 59 (`23:59:59.999`), the way `java.time`'s ISO parser smooths it: the
    /// ledger's time scale has no leap seconds, and the event stays before the next minute's first.
    /// Returns `nil` when the text is not of that form or names an impossible date
    /// (month 13, February 30, hour 24) or lies outside ``earliest``...``latest``.
    public init?(rfc3339 text: String) {
        guard let instant = Instant(rfc3339Unbounded: text), instant.isInAcceptedRange else { return nil }
        self = instant
    }

    /// Why `text` is not an accepted instant, in words for an error message: "not an RFC 3339 instant
    /// like …", or, for well-formed text outside ``earliest``...``latest``, that range (so that
    /// `--as-of 1900-01-01T00:00:00Z` is not called malformed). `nil` when ``init(rfc3339:)`` accepts it.
    public static func rfc3339Problem(_ text: String) -> String? {
        guard let instant = Instant(rfc3339Unbounded: text) else {
            return "is not an RFC 3339 instant like 2026-11-02T09:00:00Z"
        }
        guard instant.isInAcceptedRange else {
            return "is outside the instants the ledger accepts (\(Instant.earliest.rfc3339) to \(Instant.latest.rfc3339), UTC)"
        }
        return nil
    }

    /// ``init(rfc3339:)`` without the range check.
    private init?(rfc3339Unbounded text: String) {
        var bytes = Array(text.utf8)[...]
        func digits(_ n: Int) -> Int64? {
            guard bytes.count >= n else { return nil }
            var v: Int64 = 0
            for _ in 0..<n {
                let c = bytes.removeFirst()
                guard c >= 48 && c <= 57 else { return nil }
                v = v * 10 + Int64(c - 48)
            }
            return v
        }
        func expect(_ c: UInt8) -> Bool {
            guard bytes.first == c else { return false }
            bytes.removeFirst(); return true
        }
        guard let year = digits(4), expect(UInt8(ascii: "-")), let month = digits(2), expect(UInt8(ascii: "-")),
              let day = digits(2) else { return nil }
        guard let sep = bytes.first, sep == UInt8(ascii: "T") || sep == UInt8(ascii: "t") || sep == UInt8(ascii: " ")
        else { return nil }
        bytes.removeFirst()
        guard let hour = digits(2), expect(UInt8(ascii: ":")), let minute = digits(2), expect(UInt8(ascii: ":")),
              let second = digits(2) else { return nil }
        var millis: Int64 = 0
        if expect(UInt8(ascii: ".")) || expect(UInt8(ascii: ",")) {
            var count = 0
            while let c = bytes.first, c >= 48 && c <= 57 {
                bytes.removeFirst()
                if count < 3 { millis = millis * 10 + Int64(c - 48) }
                count += 1
            }
            guard count > 0 else { return nil }
            for _ in count..<max(count, 3) { millis *= 10 }
        }
        var offsetSeconds: Int64 = 0
        guard let zone = bytes.first else { return nil }
        if zone == UInt8(ascii: "Z") || zone == UInt8(ascii: "z") {
            bytes.removeFirst()
        } else if zone == UInt8(ascii: "+") || zone == UInt8(ascii: "-") {
            bytes.removeFirst()
            guard let oh = digits(2) else { return nil }
            _ = expect(UInt8(ascii: ":"))
            guard let om = digits(2), oh <= 23, om <= 59 else { return nil }
            offsetSeconds = (oh * 3600 + om * 60) * (zone == UInt8(ascii: "-") ? -1 : 1)
        } else {
            return nil
        }
        guard bytes.isEmpty else { return nil }
        let leap = second == 60   // RFC 3339 §5.7: a leap second, only at a minute's end
        guard let local = Instant(year: Int(year), month: Int(month), day: Int(day), hour: Int(hour),
                                  minute: Int(minute), second: leap ? 59 : Int(second), millisecond: leap ? 999 : Int(millis))
        else { return nil }
        self = local.adding(seconds: -offsetSeconds)
    }
}
