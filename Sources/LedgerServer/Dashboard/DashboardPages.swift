import DeliveryLedger
import Foundation
import LedgerReports

/// The dashboard's pages, rendered on the server from the same reports as the JSON API
/// (``ProjectReport``, ``TimelineJSON``, ``SendingLogsJSON``): a deliveries list, a delivery page
/// (KPIs classic vs EFS in Campaign's words, Success % over time, failures by type and reason, the
/// sending logs) and a recipient page. Every KPI cell carries `data-kpi="SEMANTICS.FIELD"` and
/// `data-value` (the JSON field's value) so that a test reading the rendered DOM can compare it with
/// `ledger project --format json`.
enum DashboardPages {
    /// `/delivery/chart.svg`: the delivery's Success % over its validity period under both
    /// semantics (``TimelineJSON``), about 48 buckets of it (of 1 h when no validity period is
    /// declared), as SVG; `nil` for an unknown delivery.
    static func chart(ledger: Ledger, delivery: String) throws -> String? {
        guard try ledger.hasDelivery(delivery) else { return nil }
        let declaration = try ledger.declaration(delivery: delivery)
        let bucketSeconds = max(60, (declaration.validitySeconds ?? 48 * 3600) / 48 / 60 * 60)
        do {
            return try TimelineJSON(ledger: ledger, delivery: delivery, bucket: "\(bucketSeconds / 60)m", bucketSeconds: bucketSeconds).svg
        } catch LedgerError.invalidArgument {
            // Events spread far beyond the validity period (years of bounces): about 200 buckets of
            // whole minutes over the span from the first event to the last.
            let whole = try ledger.timeline(delivery: delivery, bucketSeconds: 366 * 86_400)
            guard let first = whole.first?.at, let last = whole.last?.at else { return nil }
            let span = max(60, (last.millisecondsSinceEpoch - first.millisecondsSinceEpoch) / 1000)
            let wide = min(366 * 86_400, (span / 200 / 60 + 1) * 60)
            return try TimelineJSON(ledger: ledger, delivery: delivery, bucket: "\(wide / 60)m", bucketSeconds: wide).svg
        }
    }

    /// What the deliveries list (`/`) shows: a page of the deliveries, newest first, optionally those
    /// whose id or label contains `search` (case-insensitive).
    struct DeliveriesQuery: Sendable {
        var search: String?
        var page = 1
        var pageSize = 100
    }

    /// `/`: the deliveries with their headline KPIs under both semantics, a page at a time, most
    /// recently first recorded first. A provider without a grouping field gives one delivery per
    /// message (README "Input: email service providers"): a ledger can hold millions, and the whole
    /// list took minutes to render (found at 100,000 deliveries). Without a search or a known-at
    /// instant only the page's deliveries are read; with one, every delivery's row is read once and
    /// filtered (O(deliveries)).
    static func deliveries(ledger: Ledger, bounds: TimeBounds, picker: Picker, list q: DeliveriesQuery) throws -> String {
        let needle = q.search?.trimmingCharacters(in: .whitespaces).lowercased()
        let searching = needle.map { !$0.isEmpty } ?? false
        let rows: [DeliveryKPIsRow], basis: Basis, total: Int
        let start = (q.page - 1) * q.pageSize
        if !searching && bounds.knownAt == nil {
            // Every delivery known now has a row (as of an instant too: counters then, maybe zero).
            let all = try ledger.deliveries()
            total = all.count
            let page = all.reversed().dropFirst(start).prefix(q.pageSize)
            (rows, basis) = page.isEmpty ? ([], try ledger.kpis(deliveries: [], at: bounds).basis) : try ledger.kpis(deliveries: Array(page), at: bounds)
        } else {
            let (all, b) = try ledger.kpis(deliveries: nil, at: bounds)
            let matching = searching
                ? all.filter { $0.delivery.lowercased().contains(needle!) || ($0.label?.lowercased().contains(needle!) ?? false) }
                : all
            total = matching.count
            rows = Array(matching.reversed().dropFirst(start).prefix(q.pageSize))
            basis = b
        }
        var body = "<h1>Deliveries</h1>\n<p class=\"basis\">\(HTML.escape(basisText(basis)))</p>\n"
        body += "<form method=\"get\" action=\"/\" id=\"deliveries-filter\">"
        body += hiddenInputs(picker)
        if q.pageSize != DeliveriesQuery().pageSize { body += "<input type=\"hidden\" name=\"pageSize\" value=\"\(q.pageSize)\">" }
        body += "<label>Delivery or label <input name=\"search\" value=\"\(HTML.escape(q.search ?? ""))\" placeholder=\"contains…\"></label>"
        body += "<button type=\"submit\">Search</button></form>\n"
        let pages = max(1, (total + q.pageSize - 1) / q.pageSize)
        let base: [(String, String?)] = [("search", searching ? q.search : nil),
                                         ("pageSize", q.pageSize == DeliveriesQuery().pageSize ? nil : String(q.pageSize))] + picker.pairs
        if total == 0 && !searching {
            body += "<p>No deliveries yet: point a SparkPost webhook at <code>/webhooks/sparkpost</code>, or <code>ledger ingest</code> a file.</p>"
            return HTML.page(title: "Deliveries", picker: picker, body: body)
        }
        body += "<p id=\"deliveries-count\" data-total=\"\(total)\">\(total) deliver\(total == 1 ? "y" : "ies")"
            + "\(searching ? " matching" : "") — page \(q.page) of \(pages), most recent first</p>\n"
        body += pastLast("/", base, page: q.page, pages: pages, none: "No delivery")
        body += "<table id=\"deliveries\"><tr><th>Delivery</th><th>Label</th><th>To deliver</th><th>Success (classic)</th><th>Success (EFS)</th>"
            + "<th>Sent (classic)</th><th>Sent (EFS)</th><th>Taken into account by the service provider</th><th>Failed</th><th>Pending</th></tr>\n"
        for row in rows {
            let (d, c, e) = (row.delivery, row.classic, row.efs)
            let label = row.label ?? ""  // the declaration in force at the picker's bounds
            let link = "/delivery" + HTML.query([("delivery", d)] + picker.pairs)
            body += "<tr data-delivery=\"\(HTML.escape(d))\"><td><a href=\"\(HTML.escape(link))\">\(HTML.escape(d))</a></td><td>\(HTML.escape(label))</td>"
                + "<td class=\"n\">\(c.toDeliver)</td><td class=\"n\">\(HTML.percent(c.successRate))</td><td class=\"n\">\(HTML.percent(e.successRate))</td>"
                + "<td class=\"n\">\(c.sent)</td><td class=\"n\">\(e.sent)</td><td class=\"n\">\(e.takenIntoAccount)</td><td class=\"n\">\(c.failed)</td><td class=\"n\">\(c.pending)</td></tr>\n"
        }
        body += "</table>\n" + pager("/", base, page: q.page, pages: pages, previous: "← newer", next: "older →")
        return HTML.page(title: "Deliveries", picker: picker, body: body)
    }

    /// What the sending-logs part of a delivery page shows.
    struct LogsQuery: Sendable {
        var semantics: Semantics = .classic
        var status: MessageStatus?
        var search: String?
        var page = 1
        var pageSize = 50
    }

    /// `/delivery?delivery=…`: the delivery's page; `nil` when the delivery is unknown.
    static func delivery(ledger: Ledger, delivery: String, bounds: TimeBounds, picker: Picker, logs q: LogsQuery) throws -> String? {
        guard try ledger.hasDelivery(delivery) else { return nil }
        let report = try ProjectReport(ledger: ledger, semantics: .both, delivery: delivery, bounds: bounds)
        guard let c = report.rows.first(where: { $0.semantics == .classic }), let e = report.rows.first(where: { $0.semantics == .efs }) else { return nil }
        let title = "Delivery \(delivery)" + (report.labels[delivery].map { " — \($0)" } ?? "")
        var body = "<h1>\(HTML.escape(title))</h1>\n<p class=\"basis\">\(HTML.escape(basisText(report.basis)))</p>\n"

        // The KPI summary, classic and EFS side by side, in Campaign's words.
        body += "<h2>Summary</h2>\n<table id=\"kpis\"><tr><th></th><th>Classic (Sent on relay)</th><th>EFS (Sent on delivery)</th></tr>\n"
        func row(_ label: String, _ field: String, _ value: (DeliveryKPIs) -> (text: String, raw: String)) {
            body += "<tr><th>\(HTML.escape(label))</th>"
            for k in [c, e] {
                let v = value(k)
                body += "<td class=\"n\" data-kpi=\"\(k.semantics.rawValue).\(field)\" data-value=\"\(HTML.escape(v.raw))\">\(HTML.escape(v.text))</td>"
            }
            body += "</tr>\n"
        }
        func count(_ v: Int64) -> (String, String) { (String(v), String(v)) }
        func rate(_ v: Double?) -> (String, String) { (HTML.percent(v), v.map { String($0) } ?? "null") }
        row("To deliver", "toDeliver") { count($0.toDeliver) }
        row("Success", "successRate") { rate($0.successRate) }
        row("Sent", "sent") { count($0.sent) }
        row(MessageStatus.takenIntoAccount.label, "takenIntoAccount") { count($0.takenIntoAccount) }
        row("Failed", "failed") { count($0.failed) }
        row("Pending", "pending") { count($0.pending) }
        row("Retrying (soft error, the MTA still trying)", "retrying") { count($0.retrying) }
        row("Processed", "processed") { count($0.processed) }
        row("Relayed to the MTA", "relayed") { count($0.relayed) }
        row("Delivered (reported by the MTA)", "delivered") { count($0.delivered) }
        row("Bounces (after relay)", "bounced") { count($0.bounced) }
        row("Bounce rate (of relayed)", "bounceRate") { rate($0.bounceRate) }
        row("Hard bounces", "hardBounced") { count($0.hardBounced) }
        row("Failed before relay (policy)", "failedBeforeRelay") { count($0.failedBeforeRelay) }
        body += "</table>\n"

        // Failures by type and reason.
        body += "<h2>Failures by type and reason</h2>\n<table id=\"failures\"><tr><th></th><th>Classic</th><th>EFS</th></tr>\n"
        for t in FailureType.allCases {
            body += "<tr><th>Type: \(HTML.escape(t.label))</th><td class=\"n\" data-kpi=\"classic.failedByType.\(t.rawValue)\">\(c.failedByType[t] ?? 0)</td>"
                + "<td class=\"n\" data-kpi=\"efs.failedByType.\(t.rawValue)\">\(e.failedByType[t] ?? 0)</td></tr>\n"
        }
        for r in FailureReason.allCases where (c.failedByReason[r] ?? 0) > 0 || (e.failedByReason[r] ?? 0) > 0 {
            body += "<tr><th>Reason: \(HTML.escape(r.label))</th><td class=\"n\" data-kpi=\"classic.failedByReason.\(r.rawValue)\">\(c.failedByReason[r] ?? 0)</td>"
                + "<td class=\"n\" data-kpi=\"efs.failedByReason.\(r.rawValue)\">\(e.failedByReason[r] ?? 0)</td></tr>\n"
        }
        body += "</table>\n"

        // Success % over the validity period, as an image of its own (``chart(ledger:delivery:)``): the
        // page answers at once, and the chart — a fold of every event of the delivery — follows.
        let chart = "/delivery/chart.svg" + HTML.query([("delivery", delivery)])
        body += "<h2>Success % over time</h2>\n<div class=\"chart\" id=\"chart\"><img src=\"\(HTML.escape(chart))\" width=\"900\" height=\"420\" "
            + "alt=\"Success % over time of delivery \(HTML.escape(delivery)), classic and EFS\"></div>\n"

        // The sending logs.
        guard let logs = try SendingLogsJSON(ledger: ledger, delivery: delivery, semantics: q.semantics, status: q.status, search: q.search,
                                             page: q.page, pageSize: q.pageSize, bounds: bounds) else { return nil }
        body += "<h2>Sending logs</h2>\n<form method=\"get\" action=\"/delivery\" id=\"logs-filter\">"
        body += "<input type=\"hidden\" name=\"delivery\" value=\"\(HTML.escape(delivery))\">"
        body += hiddenInputs(picker)
        if q.pageSize != LogsQuery().pageSize { body += "<input type=\"hidden\" name=\"pageSize\" value=\"\(q.pageSize)\">" }
        body += "<label>Status <select name=\"status\"><option value=\"\">any</option>"
        for s in [MessageStatus.pending, .sent, .takenIntoAccount, .failed] {
            body += "<option value=\"\(s.rawValue)\"\(q.status == s ? " selected" : "")>\(HTML.escape(s.label))</option>"
        }
        body += "</select></label><label>under <select name=\"semantics\">"
        for s in Semantics.allCases { body += "<option value=\"\(s.rawValue)\"\(q.semantics == s ? " selected" : "")>\(s == .classic ? "classic" : "EFS")</option>" }
        body += "</select></label><label>Address <input name=\"search\" value=\"\(HTML.escape(q.search ?? ""))\" placeholder=\"contains…\"></label>"
        body += "<button type=\"submit\">Filter</button></form>\n"
        let pages = max(1, (logs.total + logs.pageSize - 1) / logs.pageSize)
        body += "<p id=\"logs-count\" data-total=\"\(logs.total)\">\(logs.total) recipient\(logs.total == 1 ? "" : "s") — page \(logs.page) of \(pages)</p>\n"
        body += "<p class=\"basis\">Recipients with at least one event. Declared recipients the MTA has not reported on yet "
            + "count in the summary's Pending but are not listed: the ledger knows only the addresses its events name.</p>\n"
        // The pager's links keep every choice of this page, its page size too (a tester's "next" from
        // page 2 of 14 at pageSize=5 led to "page 3 of 2" at the default size).
        let base: [(String, String?)] = [("delivery", delivery), ("status", q.status?.rawValue), ("semantics", q.semantics == .classic ? nil : q.semantics.rawValue),
                                         ("search", q.search), ("pageSize", q.pageSize == LogsQuery().pageSize ? nil : String(q.pageSize))] + picker.pairs
        // A page past the last (an old link, a hand-made URL) says so and links to the last one
        // (found by a fresh user: "page 500 of 199" over an empty table).
        body += pastLast("/delivery", base, page: logs.page, pages: pages, none: "No recipient")
        body += "<table id=\"logs\"><tr><th>Recipient</th><th>Classic</th><th>EFS</th><th>Failure type</th><th>Reason</th></tr>\n"
        for r in logs.recipients {
            let link = "/recipient" + HTML.query([("delivery", delivery), ("recipient", r.recipient)] + picker.pairs)
            let failure = r.classic.failureType != nil ? r.classic : r.efs
            body += "<tr data-recipient=\"\(HTML.escape(r.recipient))\"><td><a href=\"\(HTML.escape(link))\">\(HTML.escape(r.recipient))</a></td>"
                + "<td class=\"status-\(r.classic.status)\" data-status=\"\(r.classic.status)\">\(HTML.escape(statusLabel(r.classic)))</td>"
                + "<td class=\"status-\(r.efs.status)\" data-status=\"\(r.efs.status)\">\(HTML.escape(statusLabel(r.efs)))</td>"
                + "<td>\(HTML.escape(failure.failureType.flatMap { FailureType(rawValue: $0)?.label } ?? "—"))</td>"
                + "<td>\(HTML.escape(failure.failureReason.flatMap { FailureReason(rawValue: $0)?.label } ?? "—"))</td></tr>\n"
        }
        body += "</table>\n" + pager("/delivery", base, page: logs.page, pages: pages, previous: "← previous", next: "next →")
        return HTML.page(title: title, picker: picker, hidden: [("delivery", delivery)], body: body)
    }

    /// `/recipient?delivery=…&recipient=…`: the status under both semantics and the events that
    /// decided it; `nil` when the recipient has no events in the delivery.
    static func recipient(ledger: Ledger, delivery: String, recipient: String, bounds: TimeBounds, picker: Picker) throws -> String? {
        guard let r = try ledger.status(delivery: delivery, recipient: recipient, at: bounds) else { return nil }
        let title = "\(r.recipient) in delivery \(r.delivery)"
        var body = "<h1>\(HTML.escape(title))</h1>\n<p class=\"basis\">\(HTML.escape(basisText(r.basis)))</p>\n"
        body += "<p><a href=\"\(HTML.escape("/delivery" + HTML.query([("delivery", delivery)] + picker.pairs)))\">← delivery \(HTML.escape(delivery))</a></p>\n"
        body += "<table id=\"status\"><tr><th></th><th>Status</th><th>Failure type</th><th>Reason</th><th>Decided by</th></tr>\n"
        for s in Semantics.allCases {
            let v = r.view(s)
            body += "<tr><th>\(s == .classic ? "Classic" : "EFS")</th><td class=\"status-\(v.status.rawValue)\" data-status=\"\(v.status.rawValue)\">"
                + "\(HTML.escape(v.status.label + (v.retrying ? " (retrying)" : "")))</td><td>\(HTML.escape(v.failureType?.label ?? "—"))</td>"
                + "<td>\(HTML.escape(v.failureReason?.label ?? "—"))</td><td>\(v.decidedBy.map { "#\($0)" } ?? "—")</td></tr>\n"
        }
        body += "</table>\n<h2>Events</h2>\n<p class=\"muted\">In valid-time order; → marks the events that decided a status.</p>\n"
        body += "<table id=\"events\"><tr><th></th><th>#</th><th>Occurred</th><th>Recorded</th><th>Event</th><th>Qualification</th><th>MTA said</th></tr>\n"
        let decisive = Set([r.classic.decidedBy, r.efs.decidedBy].compactMap { $0 })
        for e in r.events.sorted(by: { ($0.event.occurredAt, $0.position) < ($1.event.occurredAt, $1.position) }) {
            var what = e.event.kind.rawValue
            if e.event.kind == .bounce { what += e.event.final ? " (final)" : " (non-final)" }
            if e.event.beforeRelay { what += " before relay" }
            let q = e.event.qualification.map { "\($0.type.label), \($0.reason.label)" } ?? "—"
            body += "<tr><td>\(decisive.contains(e.position) ? "→" : "")</td><td>\(e.position)</td><td>\(e.event.occurredAt.rfc3339)</td>"
                + "<td>\(e.recordedAt.rfc3339)</td><td>\(HTML.escape(what))</td><td>\(HTML.escape(q))</td><td>\(HTML.escape(e.event.response ?? "—"))</td></tr>\n"
        }
        body += "</table>\n"
        return HTML.page(title: title, picker: picker, hidden: [("delivery", delivery), ("recipient", recipient)], body: body)
    }

    /// The picker's bounds as hidden inputs, so that a page's own form keeps them.
    static func hiddenInputs(_ picker: Picker) -> String {
        picker.pairs.compactMap { n, v in v.map { "<input type=\"hidden\" name=\"\(n)\" value=\"\(HTML.escape($0))\">" } }.joined()
    }

    /// The previous / next links of page `page` of `pages` at `path`, keeping `base`'s choices.
    static func pager(_ path: String, _ base: [(String, String?)], page: Int, pages: Int, previous: String, next: String) -> String {
        var html = "<p class=\"pager\">"
        if page > 1 { html += "<a id=\"prev\" href=\"\(HTML.escape(path + HTML.query(base + [("page", String(min(page - 1, pages)))])))\">\(previous)</a>" }
        if page < pages { html += "<a id=\"next\" href=\"\(HTML.escape(path + HTML.query(base + [("page", String(page + 1))])))\">\(next)</a>" }
        return html + "</p>\n"
    }

    /// For a page past the last: says so and links to the last one; "" otherwise.
    static func pastLast(_ path: String, _ base: [(String, String?)], page: Int, pages: Int, none: String) -> String {
        guard page > pages else { return "" }
        let last = path + HTML.query(base + [("page", String(pages))])
        return "<p id=\"past-last\">\(none) on page \(page): the last page is <a href=\"\(HTML.escape(last))\">page \(pages)</a>.</p>\n"
    }

    static func statusLabel(_ v: StatusJSON.ViewJSON) -> String {
        (MessageStatus(rawValue: v.status)?.label ?? v.status) + (v.retrying ? " (retrying)" : "")
    }

    static func basisText(_ b: Basis) -> String {
        var text = "Basis: log position \(b.position)" + (b.recordedAt.map { ", recorded \($0.rfc3339)" } ?? " (nothing recorded)")
        if let k = b.knownAt { text += "; known at \(k.rfc3339)" }
        if let a = b.asOf { text += "; as of \(a.rfc3339)" }
        return text + "; rule table \(b.rules)"
    }
}
