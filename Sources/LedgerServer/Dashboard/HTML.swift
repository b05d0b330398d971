import DeliveryLedger
import Foundation

/// Small helpers to write server-rendered HTML safely: every text and attribute value goes through
/// ``escape(_:)``; the page frame carries its own CSS (no CDN, no build step, works offline).
enum HTML {
    /// Escapes `&`, `<`, `>`, `"` and `'` (HTML5 text and double- or single-quoted attributes).
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// A query string from pairs (absent values left out), percent-encoded as forms do.
    static func query(_ pairs: [(String, String?)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let parts = pairs.compactMap { name, value -> String? in
            guard let value, !value.isEmpty else { return nil }
            return name + "=" + (value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value)
        }
        return parts.isEmpty ? "" : "?" + parts.joined(separator: "&")
    }

    /// A rate as Campaign shows it: `93.4 %`, or `—` when undefined.
    static func percent(_ v: Double?) -> String {
        guard let v else { return "—" }
        return String(format: "%.1f %%", v * 100)
    }

    static let style = """
        body{font-family:Helvetica,Arial,sans-serif;margin:0;color:#222;background:#f6f7f9}
        header{background:#1f3a5f;color:#fff;padding:10px 24px;display:flex;gap:24px;align-items:center}
        header a{color:#fff;text-decoration:none;font-weight:bold}
        main{padding:16px 24px;max-width:1200px}
        h1{font-size:22px;margin:8px 0 12px} h2{font-size:17px;margin:22px 0 8px}
        table{border-collapse:collapse;background:#fff;margin-bottom:8px}
        th,td{border:1px solid #dde1e6;padding:4px 10px;font-size:14px;text-align:left}
        td.n{text-align:right;font-variant-numeric:tabular-nums}
        th{background:#eef1f5}
        form{display:inline-flex;gap:8px;align-items:center;flex-wrap:wrap;margin:6px 0}
        input,select,button{font-size:14px;padding:3px 6px}
        .basis{color:#555;font-size:13px;margin:4px 0 10px}
        .status-failed{color:#b00020} .status-sent{color:#0a7a2f} .status-takenIntoAccount{color:#8a6d00}
        .pager a{margin-right:12px} .muted{color:#777}
        .chart svg{max-width:100%;height:auto;background:#fff;border:1px solid #dde1e6}
        """

    /// The page frame: title, navigation, the as-of / known-at picker (kept in every link), body.
    static func page(title: String, picker: Picker, hidden: [(String, String?)] = [], body: String) -> String {
        var inputs = ""
        for (name, value) in hidden where value != nil && !(value ?? "").isEmpty {
            inputs += "<input type=\"hidden\" name=\"\(escape(name))\" value=\"\(escape(value ?? ""))\">"
        }
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>\(escape(title)) — Delivery Ledger</title>
            <meta name="viewport" content="width=device-width, initial-scale=1"><style>\(style)</style></head>
            <body><header><a href="/\(query(picker.pairs))">Delivery Ledger</a>
            <form method="get" action="" id="picker">\(inputs)
            <label>As of <input name="asOf" value="\(escape(picker.asOf ?? ""))" placeholder="2026-11-02T12:00:00Z" size="22"></label>
            <label>Known at <input name="knownAt" value="\(escape(picker.knownAt ?? ""))" placeholder="now" size="22"></label>
            <button type="submit">Show</button> <a href="?\(escape(hidden.compactMap { n, v in v.map { "\(n)=\($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0)" } }.joined(separator: "&")))">now</a></form>
            </header><main>
            \(body)
            </main></body></html>

            """
    }
}

/// The as-of (valid time) and known-at (transaction time) instants a page is rendered at.
struct Picker: Sendable {
    var asOf: String?
    var knownAt: String?
    var pairs: [(String, String?)] { [("asOf", asOf), ("knownAt", knownAt)] }
}
