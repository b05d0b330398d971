import Foundation

/// A small line chart of two series (0…1) over time, as SVG text.
public enum SVGChart {
    /// The SVG text: `points` are (instant label in RFC 3339, classic rate, EFS rate), rates in 0…1.
    public static func render(title: String, points: [(at: String, classic: Double, efs: Double)]) -> String {
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
