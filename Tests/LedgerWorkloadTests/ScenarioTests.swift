import Foundation
import LedgerWorkload
import Testing

@Suite("Scenario mix and the events behind each scenario")
struct ScenarioTests {
    @Test("Scenario proportions are within tolerance of the nominal mix", arguments: [Fixtures.standard, Fixtures.twoDeliveries])
    func proportions(workload: Workload) {
        let scenarios = workload.scenarios()
        #expect(scenarios.count == workload.spec.deliveries * workload.spec.recipientsPerDelivery)
        let counts = Dictionary(grouping: scenarios, by: \.scenario).mapValues(\.count)
        for s in Scenario.allCases {
            let share = Double(counts[s] ?? 0) / Double(scenarios.count)
            #expect(abs(share - s.nominalShare) <= tolerance(share: s.nominalShare, count: scenarios.count),
                    "\(s): \(share) vs \(s.nominalShare)")
        }
        // Messages are keyed by (delivery, lower-case recipient); recipients repeat across deliveries.
        #expect(Set(scenarios.map { $0.delivery + " " + $0.recipient }).count == scenarios.count)
        #expect(scenarios.allSatisfy { $0.recipient == $0.recipient.lowercased() })
        if workload.spec.deliveries > 1 {
            let perDelivery = Dictionary(grouping: scenarios, by: \.delivery).mapValues { Set($0.map(\.recipient)) }
            #expect(Set(perDelivery.values).count == 1, "every delivery targets the same list")
        }
    }

    @Test("Recipient domains are a realistic mix")
    func domains() {
        let domains = Dictionary(grouping: Fixtures.standard.scenarios(), by: { String($0.recipient.split(separator: "@").last!) })
            .mapValues(\.count)
        for d in ["gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "orange.fr", "gmx.de", "example.org"] {
            #expect((domains[d] ?? 0) > 0, "no \(d) recipient")
        }
        #expect(Double(domains["gmail.com"] ?? 0) / 10_000 > 0.25)
    }

    /// The message-status-relevant SparkPost types of a message, in time order.
    static func outline(_ events: [Element]) -> [String] {
        events.filter { !["open", "click", "spam_complaint", "list_unsubscribe", "link_unsubscribe"].contains($0.type) }
            .filter { !($0.type == "bounce" && $0.bounceClass == 60) }
            .map(\.type)
    }

    @Test("Every message's events match its scenario and signals", arguments: [Fixtures.standard, Fixtures.twoDeliveries])
    func eventsMatchScenarios(workload: Workload) throws {
        var byMessage: [String: [Element]] = [:]
        var seen = Set<String>()
        for e in try Fixtures.elements(of: workload) where seen.insert(e.eventId).inserted {
            byMessage[e.messageKey, default: []].append(e)
        }
        let scenarios = workload.scenarios()
        let lifetime = min(workload.spec.validitySeconds, 302_400)
        var p = Problems()
        for m in scenarios {
            let events = (byMessage.removeValue(forKey: m.delivery + " " + m.recipient) ?? [])
                .sorted { ($0.timestamp, UInt64($0.eventId)!) < ($1.timestamp, UInt64($1.eventId)!) }
            let outline = Self.outline(events)
            func context() -> String { "\(m.delivery) \(m.recipient) \(m.scenario): \(outline)" }
            let delays = outline.filter { $0 == "delay" }.count
            switch m.scenario {
            case .delivered:
                p.check(outline == ["injection", "delivery"], "\(context())")
            case .softThenDelivered:
                p.check(outline.first == "injection" && outline.last == "delivery" && (1...3).contains(delays)
                        && outline.count == delays + 2, "\(context())")
                let classes = Set(events.filter { $0.type == "delay" }.compactMap(\.bounceClass))
                p.check(classes.count == 1 && classes.isSubset(of: [20, 21, 22, 50, 70]), "\(context())")
                p.check(events.filter { $0.type == "delay" }.allSatisfy { $0.fields["error_code"]?.hasPrefix("4") == true }, "\(context()): 4xx")
            case .hardBounce:
                p.check(outline == ["injection", "bounce"], "\(context())")
                p.check([10, 51].contains(events.last { $0.type == "bounce" }?.bounceClass ?? 0), "\(context())")
            case .timeout:
                p.check(outline.first == "injection" && outline.last == "bounce" && delays >= 1 && outline.count == delays + 2, "\(context())")
                let bounce = events.last { $0.type == "bounce" && $0.bounceClass != 60 }
                p.check([22, 24].contains(bounce?.bounceClass ?? 0) && bounce?.fields["raw_reason"]?.contains("5.4.7") == true, "\(context())")
                let injection = events.first { $0.type == "injection" }
                p.check((bounce?.timestamp ?? 0) - (injection?.timestamp ?? 0) >= lifetime, "\(context()): timeout before the lifetime")
            case .asyncBounceAfterDelivery:
                p.check(outline == ["injection", "delivery", "out_of_band"], "\(context())")
                p.check([10, 22].contains(events.last { $0.type == "out_of_band" }?.bounceClass ?? 0), "\(context())")
            case .stillRetrying:
                p.check(outline.first == "injection" && (1...4).contains(delays) && outline.count == delays + 1, "\(context())")
            case .notRelayed:
                p.check(events.isEmpty, "\(context())")
            case .policyRejection:
                p.check(outline == ["policy_rejection"] || outline == ["generation_rejection"], "\(context())")
            }
            p.check(events.contains { $0.type == "bounce" && $0.bounceClass == 60 } == m.signals.contains(.autoReply), "\(context())")
            p.check(events.contains { $0.type == "spam_complaint" } == m.signals.contains(.complaint), "\(context())")
            p.check(events.contains { $0.type.hasSuffix("_unsubscribe") } == m.signals.contains(.unsubscribe), "\(context())")
            p.check(events.contains { $0.type == "open" } == m.signals.contains(.open), "\(context())")
            p.check(events.contains { $0.type == "click" } == m.signals.contains(.click), "\(context())")
            if !m.signals.isEmpty { p.check(m.scenario.endsDelivered, "\(context()): signals only on delivered messages") }
            // num_retries counts the failed attempts before each event.
            let retries = events.filter { $0.type == "delay" }.compactMap { $0.fields["num_retries"].flatMap { Int($0) } }
            p.check(retries == Array(0..<retries.count), "\(context()): num_retries \(retries)")
        }
        #expect(p.isEmpty, "\(p.summary)")
        #expect(byMessage.isEmpty, "events for messages without a scenario: \(byMessage.keys.prefix(3))")
    }

    @Test("Signals appear at about their rates")
    func signalRates() {
        let delivered = Fixtures.standard.scenarios().filter(\.scenario.endsDelivered)
        func share(_ s: MessageSignals) -> Double { Double(delivered.filter { $0.signals.contains(s) }.count) / Double(delivered.count) }
        #expect(abs(share(.autoReply) - 0.015) < 0.006)
        #expect(abs(share(.open) - 0.06) < 0.012)
        #expect(share(.click) > 0 && share(.click) < share(.open))
        #expect(share(.complaint) > 0 && share(.complaint) < 0.006)
        #expect(share(.unsubscribe) > 0 && share(.unsubscribe) < 0.008)
    }

    @Test("A shorter validity period makes the MTA give up sooner")
    func shortValidity() throws {
        let w = Workload(spec: WorkloadSpec(recipientsPerDelivery: 3_000, validitySeconds: 86_400))
        let timeouts = Set(w.scenarios().filter { $0.scenario == .timeout }.map { $0.delivery + " " + $0.recipient })
        try #require(!timeouts.isEmpty)
        var injection: [String: Int64] = [:], bounce: [String: Int64] = [:]
        for e in try Feed.elements(of: w.sparkPostBatches()) where timeouts.contains(e.messageKey) {
            if e.type == "injection" { injection[e.messageKey] = e.timestamp }
            if e.type == "bounce" { bounce[e.messageKey] = e.timestamp }
        }
        for key in timeouts {
            let lifetime = try #require(bounce[key]) - (try #require(injection[key]))
            #expect((86_400...86_400 + 3 * 3600).contains(lifetime), "\(key): \(lifetime) s")
        }
    }
}
