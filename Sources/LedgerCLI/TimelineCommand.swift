import ArgumentParser
import DeliveryLedger
import Foundation

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

    static func seconds(_ text: String) -> Int64? {
        guard let unit = text.last, let n = Int64(text.dropLast()), n > 0 else { return nil }
        let factor: Int64
        switch unit {
        case "s": factor = 1
        case "m": factor = 60
        case "h": factor = 3600
        case "d": factor = 86_400
        default: return nil
        }
        let (seconds, overflow) = n.multipliedReportingOverflow(by: factor)
        return overflow || seconds > 366 * 86_400 ? nil : seconds
    }

    func validate() throws {
        guard Self.seconds(bucket) != nil else { throw ValidationError("--bucket '\(bucket)' is not like 30s, 15m, 1h or 1d (at most 366d)") }
        guard ["csv", "json", "svg"].contains(format) else { throw ValidationError("--format must be csv, json or svg") }
    }

    struct PointJSON: Encodable {
        var at: String
        var classicSuccessRate: Double
        var efsSuccessRate: Double
        var classicSent: Int64
        var efsSent: Int64
        var takenIntoAccount: Int64
        var failed: Int64
        var relays: Int
        var deliveries: Int
    }

    func execute(_ out: inout Output) throws {
        let ledger = try database.open(.read)
        guard try ledger.deliveries().contains(delivery) else { throw CLIError("unknown delivery '\(delivery)'") }
        let points = try ledger.timeline(delivery: delivery, bucketSeconds: Self.seconds(bucket)!).map {
            PointJSON(at: $0.at.rfc3339, classicSuccessRate: $0.classic.successRate, efsSuccessRate: $0.efs.successRate,
                      classicSent: $0.classic.sent, efsSent: $0.efs.sent, takenIntoAccount: $0.efs.takenIntoAccount,
                      failed: $0.classic.failed, relays: $0.relays, deliveries: $0.deliveries)
        }
        switch format {
        case "json":
            struct Doc: Encodable { var delivery: String; var bucket: String; var points: [PointJSON] }
            out.line(try JSON.encode(Doc(delivery: delivery, bucket: bucket, points: points), pretty: true))
        case "svg":
            out.line(SVGChart.render(title: "Success % — delivery \(delivery)", points: points.map { ($0.at, $0.classicSuccessRate, $0.efsSuccessRate) }))
        default:
            out.line("at,classicSuccessRate,efsSuccessRate,classicSent,efsSent,takenIntoAccount,failed,relays,deliveries")
            for p in points {
                out.line([p.at, String(p.classicSuccessRate), String(p.efsSuccessRate), String(p.classicSent), String(p.efsSent),
                          String(p.takenIntoAccount), String(p.failed), String(p.relays), String(p.deliveries)].joined(separator: ","))
            }
        }
    }
}

/// A small line chart of two series (0…1) over time, as SVG text.
enum SVGChart {
    static func render(title: String, points: [(at: String, classic: Double, efs: Double)]) -> String {
        let width = 900.0, height = 420.0, left = 70.0, right = 30.0, top = 50.0, bottom = 70.0
        let plotW = width - left - right, plotH = height - top - bottom
        let n = max(points.count - 1, 1)
        func x(_ i: Int) -> Double { left + plotW * Double(i) / Double(n) }
        func y(_ v: Double) -> Double { top + plotH * (1 - min(max(v, 0), 1)) }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        func escape(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        }
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="Helvetica, Arial, sans-serif">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(f(left))" y="28" font-size="18" fill="#222">\(escape(title))</text>

            """
        for pct in stride(from: 0, through: 100, by: 25) {
            let yy = y(Double(pct) / 100)
            svg += "<line x1=\"\(f(left))\" y1=\"\(f(yy))\" x2=\"\(f(left + plotW))\" y2=\"\(f(yy))\" stroke=\"#e5e5e5\"/>\n"
            svg += "<text x=\"\(f(left - 8))\" y=\"\(f(yy + 4))\" font-size=\"12\" text-anchor=\"end\" fill=\"#555\">\(pct) %</text>\n"
        }
        svg += "<line x1=\"\(f(left))\" y1=\"\(f(top + plotH))\" x2=\"\(f(left + plotW))\" y2=\"\(f(top + plotH))\" stroke=\"#888\"/>\n"
        if !points.isEmpty {
            for i in Set([0, points.count / 2, points.count - 1]).sorted() {
                let label = String(points[i].at.prefix(16)).replacingOccurrences(of: "T", with: " ")
                let anchor = i == 0 ? "start" : (i == points.count - 1 ? "end" : "middle")
                svg += "<text x=\"\(f(x(i)))\" y=\"\(f(top + plotH + 20))\" font-size=\"12\" text-anchor=\"\(anchor)\" fill=\"#555\">\(label) UTC</text>\n"
            }
            func line(_ values: [Double], _ color: String) -> String {
                if values.count == 1 {  // one point: a dot, since a one-point line is invisible
                    return "<circle cx=\"\(f(x(0)))\" cy=\"\(f(y(values[0])))\" r=\"4\" fill=\"\(color)\"/>\n"
                }
                let coords = values.enumerated().map { "\(f(x($0.offset))),\(f(y($0.element)))" }.joined(separator: " ")
                return "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2.5\" points=\"\(coords)\"/>\n"
            }
            svg += line(points.map(\.classic), "#1f77b4")
            svg += line(points.map(\.efs), "#d62728")
        }
        let ly = top + plotH + 48
        svg += """
            <rect x="\(f(left))" y="\(f(ly - 10))" width="14" height="4" fill="#1f77b4"/>
            <text x="\(f(left + 20))" y="\(f(ly - 4))" font-size="13" fill="#222">Classic (Sent on relay)</text>
            <rect x="\(f(left + 220))" y="\(f(ly - 10))" width="14" height="4" fill="#d62728"/>
            <text x="\(f(left + 240))" y="\(f(ly - 4))" font-size="13" fill="#222">EFS (Sent on delivery)</text>
            </svg>
            """
        return svg
    }
}
