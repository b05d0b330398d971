import Foundation
import LedgerTestSupport
import Testing

/// `ledger domains` (domain.md §3 breakdown by recipient domain): its JSON against
/// Schemas/domains.schema.json, its numbers against `project` (the domains' counts add up to the
/// delivery's), the CSV's columns, and the schema's copy of project.schema.json's KPI definition.
@Suite struct DomainsCLITests {
    @Test func domainsAddUpToTheDeliveryAndFollowTheSchema() throws {
        let cli = CLI()
        let demo = cli.run("demo", "--db", cli.db, "--recipients", "400")
        #expect(demo.exitCode == 0, "\(demo.error)")
        let project = cli.run("project", "--classic", "--format", "json")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(project.output.utf8)) as? [String: Any])
        let deliveries = try #require(doc["deliveries"] as? [[String: Any]])
        for d in deliveries {
            let delivery = try #require(d["delivery"] as? String)
            let r = cli.run("domains", "--delivery", delivery, "--format", "json", "--now", "2026-12-01T00:00:00Z")
            #expect(r.exitCode == 0, "\(r.error)")
            #expect(try SchemaValidation.validate(instance: Data(r.output.utf8), schemaNamed: "domains") == [])
            let b = try #require(try JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [String: Any])
            let rows = try #require(b["domains"] as? [[String: Any]])
            func sum(_ field: String) -> Int { rows.reduce(0) { $0 + ((($1["kpis"] as? [String: Any])?[field] as? Int) ?? 0) } }
            for field in ["processed", "relayed", "delivered", "failed", "bounced", "hardBounced", "retrying", "failedBeforeRelay"] {
                #expect(sum(field) == d[field] as? Int, "\(delivery) \(field)")
            }
            let csv = cli.run("domains", "--delivery", delivery, "--format", "csv").output.split(separator: "\n")
            #expect(csv.first?.hasPrefix("domain,processed,relayed,delivered,deliveredRate,failed,hard,soft,hardBounced,retrying,noFeedback,hard.notDefined,") == true)
            #expect(csv.count == rows.count + 2)  // header, rows, total
            #expect(csv.last?.hasPrefix("(total),\(d["processed"] as? Int ?? -1),") == true, "\(csv.last ?? "")")
            let total = try #require(b["total"] as? [String: Any])
            #expect((total["kpis"] as? [String: Any])?["processed"] as? Int == d["processed"] as? Int)
        }
        #expect(cli.run("domains", "--delivery", "no-such-delivery").error.contains("unknown delivery"))
    }

    /// The domains schema copies project.schema.json's KPI definition (a schema file stands alone):
    /// the copies must stay equal.
    @Test func theKPIDefinitionIsProjectSchemas() throws {
        let root = Corpus.packageRoot.appendingPathComponent("Schemas")
        let project = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: root.appendingPathComponent("project.schema.json"))) as? [String: Any])
        let domains = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: root.appendingPathComponent("domains.schema.json"))) as? [String: Any])
        let a = try #require(project["$defs"] as? [String: Any]), b = try #require(domains["$defs"] as? [String: Any])
        for name in b.keys.sorted() where name != "row" {
            let x = try JSONSerialization.data(withJSONObject: try #require(a[name]), options: [.sortedKeys])
            let y = try JSONSerialization.data(withJSONObject: try #require(b[name]), options: [.sortedKeys])
            #expect(x == y, "\(name)")
        }
        #expect(Set(b.keys) == ["deliveryKPIs", "count", "rate", "row"])
    }
}
