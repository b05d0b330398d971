import ArgumentParser
import DeliveryLedger
import LedgerReports
import Foundation

struct AddressCommand: OutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "address",
        abstract: "Show an address's quarantine status across deliveries, its error count and the events that caused it.",
        discussion: """
            Rules (domain.md §6, Campaign quarantine management): a hard failure quarantines at once; a complaint \
            or unsubscribe denylists; soft errors count when ≥ 24 h apart and quarantine at 5; ignored and \
            not-defined errors never count; a delivery or 10 days without a counted error resets to Valid; a \
            Mailbox full quarantine is lifted after 30 days. A failure that concerns the sender, the content or \
            the SMTP session (the rule table's "concerns") never counts: it is marked ✗ with whom it concerns.
            """
    )

    @OptionGroup var database: DatabaseOptions
    @Argument(help: "The address.") var address: String
    @Option(name: .customLong("as-of"), help: "The instant to compute the status at (RFC 3339); default now.") var asOf: String?
    @Option(help: "Output format: table, or json (the document of GET /api/address?address=…).") var format: String = "table"

    func validate() throws {
        do { _ = try Address.parse(address) } catch { throw ValidationError("'\(address)' is not an email address: \(error)") }
        guard format == "table" || format == "json" else { throw ValidationError("--format must be table or json, not '\(format)'") }
        if let asOf, let problem = Instant.rfc3339Problem(asOf) { throw ValidationError("--as-of '\(asOf)' \(problem)") }
    }

    func execute(_ out: inout Output) throws {
        let ledger = try database.open(.read)
        let at = asOf.flatMap { Instant(rfc3339: $0) }
        guard let r = try ledger.addressStatus(address, asOf: at) else {
            // As `status` says it: events, but none by --as-of; else which ledger was searched, and
            // an address differing only in case.
            throw StatusCommand.noEvents(address: address, delivery: nil, deliveries: try ledger.deliveries(containing: address),
                                         bounds: TimeBounds(asOf: at), ledger: ledger)
        }
        if format == "json" {
            out.line(try JSON.encode(AddressJSON(r), pretty: true))
            return
        }
        out.line("\(r.address): \(r.state.status.label)" + (r.state.reason.map { " (\($0.label))" } ?? "")
                 + (r.state.since.map { " since \($0.rfc3339)" } ?? "") + ", as of \(r.at.rfc3339)")
        out.line("Counted soft errors: \(r.state.errorCount)" + (r.state.lastCountedAt.map { ", last at \($0.rfc3339)" } ?? ""))
        let causes = Set(r.state.causes)
        let notCounted = Dictionary(r.state.notCounted.map { ($0.position, $0.concerns) }, uniquingKeysWith: { a, _ in a })
        if !notCounted.isEmpty {
            out.line("Not counted: \(notCounted.count) failure(s) about the sender, the content or the session, not this address (✗)")
        }
        out.line("Events (→ made the current status, ✗ not counted):")
        for e in r.events {
            let mark = causes.contains(e.position) ? "→" : (notCounted[e.position] != nil ? "✗" : " ")
            var line = "  \(mark) #\(e.position) \(e.event.occurredAt.rfc3339) \(e.event.delivery) \(e.event.kind.rawValue)"
            if let q = e.event.qualification { line += " [\(q.type.label), \(q.reason.label)]" }
            if let c = notCounted[e.position] { line += " — concerns \(c.label), not the address" }
            out.line(line)
        }
    }
}

struct QuarantineCommand: OutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "quarantine",
        abstract: "List the addresses in quarantine or denylisted, with the reason: the exclusion list for the sending platform."
    )

    @OptionGroup var database: DatabaseOptions
    @Option(name: .customLong("as-of"), help: "The instant (RFC 3339); default now.") var asOf: String?
    @Option(help: "Output format: table, csv or json.") var format: String = "table"

    func validate() throws {
        guard ["table", "csv", "json"].contains(format) else { throw ValidationError("--format must be table, csv or json") }
        if let asOf, let problem = Instant.rfc3339Problem(asOf) { throw ValidationError("--as-of '\(asOf)' \(problem)") }
    }

    func execute(_ out: inout Output) throws {
        let ledger = try database.open(.read)
        let at = asOf.flatMap { Instant(rfc3339: $0) }
        let doc = try QuarantineJSON(ledger: ledger, asOf: at)
        let rows = doc.addresses
        switch format {
        case "json":
            out.line(try JSON.encode(doc, pretty: true))
        case "csv":
            out.line("address,status,reason,since,errorCount")
            for r in rows { out.line([CSV.field(r.address), r.status, r.reason ?? "", r.since ?? "", String(r.errorCount)].joined(separator: ",")) }
        default:
            var table = TextTable(header: ["Address", "Status", "Reason", "Since", "Soft errors counted"], rightAligned: false)
            for r in rows {
                table.row(r.address, AddressQuarantineStatus(rawValue: r.status)?.label ?? r.status,
                          r.reason.flatMap { FailureReason(rawValue: $0)?.label } ?? "—", r.since ?? "—", String(r.errorCount))
            }
            if rows.isEmpty { out.line("No address is in quarantine or denylisted.") } else { for l in table.render(indent: "") { out.line(l) } }
        }
    }
}
