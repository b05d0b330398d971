import DeliveryLedger

/// RFC 5322 date-time parsing (internal to LedgerIngest), lenient as bounce messages need.
///
/// Accepted (RFC 5322 §3.3 and §4.3 obsolete syntax, plus what MTAs write):
/// - `Thu, 2 Nov 2026 09:00:00 +0100`, with or without the weekday, seconds optional;
/// - comments anywhere, e.g. `+0300 (MSK)`;
/// - obsolete zones `UT`, `GMT`, `Z`, `EST`/`EDT`, `CST`/`CDT`, `MST`/`MDT`, `PST`/`PDT`; a few zone
///   abbreviations common in the corpus of real bounces (`JST`, `KST`, `CET`, `CEST`, `BST`, `MSK`,
///   `IST`, `HKT`, `SGT`, `AEST`, `UTC`); other alphabetic zones (military letters and unknown names)
///   count as `+0000` (RFC 5322 §4.3: "treated as if it were -0000");
/// - `+hh:mm` offsets; a missing zone is read as UTC;
/// - two-digit years (00–49 → 20xx, 50–99 → 19xx) and three-digit years (+1900) (RFC 5322 §4.3);
/// - C `asctime` order `Thu Apr 29 23:34:45 2009`, full month and weekday names with a 12-hour
///   clock (`Thursday, April 09, 2003 9:00 PM`), and RFC 3339 text.
enum MIMEDate {
    static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    static let weekdays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    /// Offsets in minutes of the named zones understood.
    static let zones: [String: Int] = [
        "ut": 0, "utc": 0, "gmt": 0, "z": 0, "wet": 0,
        "est": -300, "edt": -240, "cst": -360, "cdt": -300, "mst": -420, "mdt": -360, "pst": -480, "pdt": -420,
        "jst": 540, "kst": 540, "cet": 60, "cest": 120, "met": 60, "mest": 120, "bst": 60, "msk": 180, "ist": 330,
        "hkt": 480, "sgt": 480, "aest": 600, "aedt": 660, "eet": 120, "eest": 180,
    ]

    /// The instant a date-time names, or `nil` when the text is not one (or an impossible date).
    static func parse(_ text: String) -> Instant? {
        parseAnyInstant(text).flatMap { $0.isInAcceptedRange ? $0 : nil }
    }

    /// ``parse(_:)`` without the ledger's range (``Instant/earliest``…``Instant/latest``): tells a
    /// date before 1970 or after 9999 from text that is no date, for the error message.
    static func parseAnyInstant(_ text: String) -> Instant? {
        let trimmed = text.mimeTrimmed()
        guard !trimmed.isEmpty, trimmed.utf8.count <= 200 else { return nil }
        if let i = Instant(rfc3339: trimmed) { return i }
        let cleaned = MIME.removingComments(trimmed).replacingCommas()
        let tokens = cleaned.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }).map { String($0).lowercased() }
        guard tokens.count >= 3, tokens.count <= 12 else { return nil }

        var day: Int? = nil, month: Int? = nil, year: Int? = nil
        var hour: Int? = nil, minute = 0, second = 0
        var offsetMinutes: Int? = nil
        var pendingNumbers: [String] = []
        for raw in tokens {
            var t = Substring(raw)
            if t.hasSuffix(".") { t = t.dropLast() }
            if t.isEmpty { continue }
            if t.contains(":"), hour == nil, t.first?.isNumber == true {
                let parts = t.split(separator: ":", omittingEmptySubsequences: false)
                guard parts.count == 2 || parts.count == 3, let h = Int(parts[0]), let m = Int(parts[1]) else { return nil }
                hour = h; minute = m
                if parts.count == 3 {
                    // Seconds may carry a fraction: "45.123".
                    guard let s = Int(parts[2].split(separator: ".").first ?? "") else { return nil }
                    second = s
                }
                continue
            }
            if (t.first == "+" || t.first == "-"), t.count >= 3 {
                let digits = t.dropFirst().filter { $0 != ":" }
                guard digits.count == 4 || digits.count == 2, digits.allSatisfy(\.isNumber), let v = Int(digits) else { continue }
                let h = digits.count == 4 ? v / 100 : v, m = digits.count == 4 ? v % 100 : 0
                guard h <= 23, m <= 59 else { return nil }
                offsetMinutes = (h * 60 + m) * (t.first == "-" ? -1 : 1)
                continue
            }
            if t.allSatisfy(\.isNumber) {
                pendingNumbers.append(String(t))
                if t.count >= 3 { year = Int(t) } else if day == nil { day = Int(t) } else if year == nil { year = Int(t).map { $0 < 50 ? 2000 + $0 : 1900 + $0 } }
                continue
            }
            if t.allSatisfy(\.isLetter) {
                let p = String(t.prefix(3))
                if month == nil, t.count >= 3, let m = months.firstIndex(of: p), months[m] == p,
                   t.count == 3 || fullMonthNames[m].hasPrefix(t) {
                    month = m + 1
                    continue
                }
                if weekdays.contains(p), hour == nil { continue }
                if t == "am" || t == "pm", let h = hour, h <= 12 {
                    hour = t == "pm" ? (h == 12 ? 12 : h + 12) : (h == 12 ? 0 : h)
                    continue
                }
                if hour != nil, offsetMinutes == nil {
                    offsetMinutes = zones[String(t)] ?? (t.count <= 5 ? 0 : nil)
                    continue
                }
                continue
            }
        }
        guard let y0 = year, let mo = month, let d = day, let h = hour else { return nil }
        let y = y0 < 1000 ? y0 + 1900 : y0
        guard let local = Instant(year: y, month: mo, day: d, hour: h, minute: minute, second: min(second, 59)) else { return nil }
        return local.adding(seconds: -Int64(offsetMinutes ?? 0) * 60)
    }

    static let fullMonthNames = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"]
}

extension String {
    fileprivate func replacingCommas() -> String {
        String(unicodeScalars.map { $0 == "," ? " " : Character($0) })
    }
}
