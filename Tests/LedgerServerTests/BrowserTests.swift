import DeliveryLedger
import Foundation
import LedgerCLI
import LedgerServer
import LedgerTestSupport
import Testing

/// The dashboard in a real browser: headless Chromium (Debian's `chromium`, installed by
/// `Tools/install-deps`) loads the pages of a served demo ledger; the rendered KPIs are compared with
/// `ledger project --both --format json`, the status filter and the address search are used, and
/// screenshots are saved (their folder is printed).
@Suite(.serialized) struct BrowserTests {
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Runs headless Chromium with `arguments` + `url`, returns its standard output.
    static func browse(_ arguments: [String], _ url: String) async throws -> String {
        let binary = try #require(chromium, "headless Chromium is missing: run Tools/install-deps (Debian package chromium)")
        // On a thread of its own: a chromium run takes seconds, and Dispatch's few global threads are
        // what the servers of the other tests need to answer (``offPool(_:)``).
        return try await onThreadOfItsOwn {
            let profile = TemporaryDirectory("chromium-profile")
            let p = Process()
            p.executableURL = URL(fileURLWithPath: binary)
            p.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                           "--user-data-dir=\(profile.url.path)", "--virtual-time-budget=3000"] + arguments + [url]
            let out = Pipe()
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            try p.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            withExtendedLifetime(profile) {}
            return String(decoding: data, as: UTF8.self)
        }
    }

    /// `data-ATTRIBUTE="…"` values of the elements that carry `data-kpi`, by KPI name.
    static func kpis(in dom: String) -> [String: String] {
        var result: [String: String] = [:]
        let pattern = try! NSRegularExpression(pattern: #"data-kpi="([^"]+)" data-value="([^"]*)""#)
        for m in pattern.matches(in: dom, range: NSRange(dom.startIndex..., in: dom)) {
            guard let k = Range(m.range(at: 1), in: dom), let v = Range(m.range(at: 2), in: dom) else { continue }
            result[String(dom[k])] = String(dom[v])
        }
        return result
    }

    static func attributeValues(_ name: String, in dom: String) -> [String] {
        let pattern = try! NSRegularExpression(pattern: name + #"="([^"]*)""#)
        return pattern.matches(in: dom, range: NSRange(dom.startIndex..., in: dom)).compactMap {
            Range($0.range(at: 1), in: dom).map { String(dom[$0]) }
        }
    }

    @Test func dashboardInHeadlessChromium() async throws {
        let server = try await APITests.demoServer()
        let base = "http://127.0.0.1:\(server.port)"
        let delivery = try #require(try server.ledger.deliveries().first)
        let shots = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-dashboard-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: shots, withIntermediateDirectories: true)
        print("dashboard screenshots: \(shots.path)")

        // The deliveries list and the delivery page render; the KPIs equal the CLI's document.
        let list = try await Self.browse(["--dump-dom"], base + "/")
        #expect(list.contains("data-delivery=\"\(delivery)\""))
        let dom = try await Self.browse(["--dump-dom"], base + "/delivery?delivery=\(delivery)")
        #expect(dom.contains("Taken into account by the service provider"))
        #expect(dom.contains("<img src=\"/delivery/chart.svg?delivery=\(delivery)\""))
        let chart = try await server.send("GET", "/delivery/chart.svg?delivery=\(delivery)")
        #expect(chart.status == 200)
        #expect(chart.text.hasPrefix("<svg") && chart.text.contains("Success %"))
        #expect(try await server.send("GET", "/delivery/chart.svg?delivery=no-such-delivery").status == 404)
        let shown = Self.kpis(in: dom)
        let cli = LedgerCLI.run(["project", "--db", try server.copy(), "--both", "--format", "json", "--delivery", delivery])
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(cli.output.utf8)) as? [String: Any])
        let rows = try #require(doc["deliveries"] as? [[String: Any]])
        #expect(rows.count == 2)
        var compared = 0
        for row in rows {
            let semantics = try #require(row["semantics"] as? String)
            for field in ["toDeliver", "sent", "takenIntoAccount", "failed", "pending", "retrying", "processed", "relayed", "delivered",
                          "bounced", "hardBounced", "failedBeforeRelay"] {
                let expected = try #require(row[field] as? Int)
                #expect(shown["\(semantics).\(field)"] == String(expected), "\(semantics).\(field)")
                compared += 1
            }
            for field in ["successRate", "bounceRate"] {
                let value = shown["\(semantics).\(field)"]
                if let expected = row[field] as? Double {
                    #expect(value.flatMap(Double.init) == expected, "\(semantics).\(field)")
                } else {
                    #expect(value == "null", "\(semantics).\(field)")
                }
                compared += 1
            }
        }
        #expect(compared == 28)

        // The status filter (EFS Failed): every row shown is failed under EFS, and the count is the ledger's.
        let all = try server.ledger.recipients(delivery: delivery)
        let failedEFS = try all.filter { try server.ledger.status(delivery: delivery, recipient: $0, includeEvents: false)?.efs.status == .failed }
        #expect(!failedEFS.isEmpty)
        let filtered = try await Self.browse(["--dump-dom"], base + "/delivery?delivery=\(delivery)&status=failed&semantics=efs&pageSize=1000")
        #expect(Self.attributeValues("data-total", in: filtered) == [String(failedEFS.count)])
        #expect(Self.attributeValues("data-recipient", in: filtered) == failedEFS)

        // The address search.
        let needle = String(try #require(all.dropFirst(3).first).prefix(5))
        let searched = try await Self.browse(["--dump-dom"], base + "/delivery?delivery=\(delivery)&search=\(needle)&pageSize=1000")
        let found = Self.attributeValues("data-recipient", in: searched)
        #expect(!found.isEmpty)
        #expect(found == all.filter { $0.lowercased().contains(needle.lowercased()) })

        // A page past the last says so and links to the last (it was "page 500 of N" over an empty table).
        let past = try await Self.browse(["--dump-dom"], base + "/delivery?delivery=\(delivery)&page=500")
        let lastPage = (all.count + 49) / 50
        #expect(past.contains("id=\"past-last\"") && past.contains("the last page is") && past.contains("page=\(lastPage)"), "\(past.prefix(2000))")
        #expect(Self.attributeValues("data-recipient", in: past).isEmpty)

        // A recipient page, and the as-of picker re-rendering a page as it was.
        let failed = try #require(failedEFS.first)
        let recipientDOM = try await Self.browse(["--dump-dom"], base + "/recipient?delivery=\(delivery)&recipient=\(failed.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? failed)")
        #expect(recipientDOM.contains("data-status=\"failed\""))
        let early = try await Self.browse(["--dump-dom"], base + "/delivery?delivery=\(delivery)&asOf=2000-01-01T00:00:00Z")
        #expect(Self.kpis(in: early)["efs.sent"] == "0")
        #expect(early.contains("as of 2000-01-01T00:00:00.000Z"))

        // Screenshots.
        for (name, path) in [("deliveries", "/"), ("delivery", "/delivery?delivery=\(delivery)"),
                             ("delivery-failed-efs", "/delivery?delivery=\(delivery)&status=failed&semantics=efs"),
                             ("recipient", "/recipient?delivery=\(delivery)&recipient=\(failed.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? failed)")] {
            let file = shots.appendingPathComponent("\(name).png").path
            _ = try await Self.browse(["--screenshot=\(file)", "--window-size=1280,2200", "--hide-scrollbars"], base + path)
            let png = try Data(contentsOf: URL(fileURLWithPath: file))
            #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "\(name).png is not a PNG")
            #expect(png.count > 10_000, "\(name).png is \(png.count) bytes")
        }
        await server.stop()
    }
}
