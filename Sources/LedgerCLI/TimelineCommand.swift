import ArgumentParser
import DeliveryLedger
import Foundation
import LedgerReports

struct TimelineCommand: OutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "timeline",
        abstract: "Success % over time under both semantics, with the relay and delivery throughput (csv, json or an SVG chart).",
        discussion: """
            One point per bucket: the delivery's KPIs as of the bucket's end (valid time) under the classic and \
            the EFS semantics, and the relays and deliveries that occurred in the bucket. The SVG draws classic \
            vs EFS Success %: classic climbs to ~100 % as relay proceeds and falls as failures come in; EFS \
            starts at 0 % and rises with each delivery.
            """
    )

    @OptionGroup var database: DatabaseOptions
    @Option(help: "The delivery.") var delivery: String
    @Option(help: "Bucket length: a number with s, m, h or d (e.g. 15m, 1h, 1d).") var bucket: String = "1h"
    @Option(help: "Output format: csv, json or svg.") var format: String = "csv"

    static func seconds(_ text: String) -> Int64? { TimelineJSON.seconds(text) }

    func validate() throws {
        guard Self.seconds(bucket) != nil else { throw ValidationError("--bucket '\(bucket)' is not like 30s, 15m, 1h or 1d (at most 366d)") }
        guard ["csv", "json", "svg"].contains(format) else { throw ValidationError("--format must be csv, json or svg") }
    }

    func execute(_ out: inout Output) throws {
        let ledger = try database.open(.read)
        guard try ledger.hasDelivery(delivery) else { throw CLIError("unknown delivery '\(delivery)'") }
        let doc = try TimelineJSON(ledger: ledger, delivery: delivery, bucket: bucket, bucketSeconds: Self.seconds(bucket)!)
        let points = doc.points
        switch format {
        case "json":
            out.line(try JSON.encode(doc, pretty: true))
        case "svg":
            out.line(doc.svg)
        default:
            out.line("at,classicSuccessRate,efsSuccessRate,classicSent,efsSent,takenIntoAccount,failed,relays,deliveries")
            for p in points {
                out.line([p.at, String(p.classicSuccessRate), String(p.efsSuccessRate), String(p.classicSent), String(p.efsSent),
                          String(p.takenIntoAccount), String(p.failed), String(p.relays), String(p.deliveries)].joined(separator: ","))
            }
        }
    }
}

