import Foundation
import LedgerTestSupport
#if canImport(Glibc)
import Glibc
#endif

// `ledger-serve-load` (issue #13, README "The service"): sustained ingest into a running
// `ledger serve` on loopback — C clients each POSTing SparkPost webhook batches of E events (every
// event new) back to back for S seconds — while one more client loads a dashboard page every
// `--page-interval` seconds (0.1 s: ten loads a second, a dashboard open in several browsers; 0 loads
// it back to back, a stress of the page rather than a sample of its latency).
// Prints events/s accepted (answered 200, hence durable), the p50/p99/max acknowledgement latency,
// and the dashboard page's p50/p99/max latency under that load.
// `--rate R` makes the load open: the clients together offer R events/s on a fixed schedule (each
// client one batch every clients × events / R seconds, the clients staggered) instead of sending
// back to back, and a batch's latency counts from the moment it was due, not from when its client
// was free to send it (wrk2's correction of "coordinated omission": a slow answer that delays the
// next batches counts against each of them). Back to back (the default), 16 clients keep 16 batches
// in flight whatever the service's speed, so by Little's law the mean latency is 16 batches' worth
// of events / throughput; an open load measures the latency at a given throughput instead.
// Usage: ledger-serve-load --port P [--clients 16] [--events 1000] [--seconds 20] [--page /delivery?delivery=load]
//        [--page-interval 0.1] [--rate EVENTS_PER_SECOND]
//        [--user U --password W]

let arguments = Array(CommandLine.arguments.dropFirst())
func option(_ name: String) -> String? {
    guard let i = arguments.firstIndex(of: name), i + 1 < arguments.count else { return nil }
    return arguments[i + 1]
}
guard let port = option("--port").flatMap(Int.init) else {
    FileHandle.standardError.write(Data("usage: ledger-serve-load --port P [--clients 16] [--events 1000] [--seconds 20] [--page PATH]\n".utf8))
    exit(2)
}
/// The value of `name` as a number above 0 (`fallback` when the option is absent); a usage error otherwise.
func positive<T: LosslessStringConvertible & Comparable & Numeric>(_ name: String, _ fallback: T) -> T {
    guard let text = option(name) else {
        if arguments.contains(name) { usage("\(name) needs a value") }
        return fallback
    }
    guard let value = T(text), value > 0, (value as? Double)?.isFinite ?? true else { usage("\(name) '\(text)' is not a number above 0") }
    return value
}
func usage(_ why: String) -> Never {
    FileHandle.standardError.write(Data("ledger-serve-load: \(why)\n".utf8))
    exit(2)
}
let clients: Int = positive("--clients", 16)
let eventsPerBatch: Int = positive("--events", 1000)
let seconds: Double = positive("--seconds", 20)
let page = option("--page") ?? "/delivery?delivery=load"
let pageInterval = option("--page-interval").flatMap(Double.init) ?? 0.1
let rate: Double? = option("--rate") != nil || arguments.contains("--rate") ? positive("--rate", 0.0) : nil
let auth: [(String, String)] = option("--user").map { [LoopbackHTTP.basic($0, option("--password") ?? "")] } ?? []
let run = UInt64(Date().timeIntervalSince1970 * 1000)

/// Batches whose events are all new: ids and recipients from the run, the client and the batch number.
struct Batches: Sendable {
    let events: Int
    let run: UInt64
    func body(client: Int, batch: Int) -> [UInt8] {
    var text = "["
    for i in 0..<events {
        if i > 0 { text += "," }
        text += #"{"msys":{"message_event":{"type":"injection","event_id":"\#(run)-\#(client)-\#(batch)-\#(i)","campaign_id":"load","rcpt_to":"c\#(client)-\#(batch)-\#(i)@example.com","timestamp":"\#(1_800_000_000 + batch)"}}}"#
    }
    return Array((text + "]").utf8)
    }
}
let batches = Batches(events: eventsPerBatch, run: run)

final class Samples: @unchecked Sendable {
    // Invariant: read and written under `lock`.
    private let lock = NSLock()
    private(set) var values: [Double] = []
    private(set) var errors = 0
    /// How many errors of each kind ("HTTP 503", the client's error).
    private(set) var kinds: [String: Int] = [:]
    func add(_ v: Double) { lock.lock(); values.append(v); lock.unlock() }
    func error(_ kind: String? = nil) { lock.lock(); errors += 1; if let kind { kinds[kind, default: 0] += 1 }; lock.unlock() }
    /// The errors' kinds, most frequent first ("" without errors).
    var kindsText: String {
        lock.lock(); defer { lock.unlock() }
        guard !kinds.isEmpty else { return "" }
        return " [" + kinds.sorted { $0.value > $1.value }.map { "\($0.key): \($0.value)" }.joined(separator: "; ") + "]"
    }
    var count: Int { lock.lock(); defer { lock.unlock() }; return values.count }
    func quantile(_ q: Double) -> Double {
        lock.lock(); defer { lock.unlock() }
        let s = values.sorted()
        guard !s.isEmpty else { return .nan }
        return s[min(s.count - 1, Int((Double(s.count) * q).rounded(.up)) - 1)]
    }
}

let acks = Samples(), pages = Samples()
/// Open load: batches that were due before the end but not sent (the service fell behind the offered rate).
let unsent = Samples()
let start = Date()
let deadline = start.addingTimeInterval(seconds)
let group = DispatchGroup()
for c in 0..<clients {
    group.enter()
    Thread {
        defer { group.leave() }
        var b = 0
        // Open load: client c's batch b is due at start + (b + c / clients) × period.
        let period = rate.map { Double(clients * eventsPerBatch) / $0 }
        defer {
            // The batches due before the end that this client never got to send: the service was
            // behind the offered rate, and their latency (at least the time left) is not in the figures.
            if let period {
                let due = Int(((seconds / period) - Double(c) / Double(clients)).rounded(.up))
                for _ in 0..<max(0, due - b) { unsent.error() }
            }
        }
        while Date() < deadline {
            let body = batches.body(client: c, batch: b)
            var t = Date()
            if let period {
                let due = start.addingTimeInterval((Double(b) + Double(c) / Double(clients)) * period)
                if due >= deadline { break }
                if due > t { Thread.sleep(until: due) }
                t = due
            }
            b += 1
            do {
                let r = try LoopbackHTTP.request(port: port, method: "POST", path: "/webhooks/sparkpost", headers: auth, body: body)
                if r.status == 200 { acks.add(Date().timeIntervalSince(t)) } else { acks.error("HTTP \(r.status)") }
            } catch { acks.error("\(error)") }
        }
    }.start()
}
group.enter()
Thread {
    defer { group.leave() }
    // The page's delivery exists once a batch is acknowledged (before, the page is a 404).
    while acks.count == 0 && Date() < deadline { usleep(10_000) }
    var next = Date()
    while Date() < deadline {
        // Loads start on a fixed schedule (not after the previous one ends plus the interval), so a
        // slow page does not thin out its own samples.
        if next > Date() { Thread.sleep(until: next) }
        next = next.addingTimeInterval(pageInterval)
        let t = Date()
        do {
            let r = try LoopbackHTTP.request(port: port, path: page)
            if r.status == 200 { pages.add(Date().timeIntervalSince(t)) } else { pages.error("HTTP \(r.status)") }
        } catch { pages.error("\(error)") }
    }
}.start()
group.wait()
let elapsed = Date().timeIntervalSince(start)
let accepted = Double(acks.values.count * eventsPerBatch)
func ms(_ v: Double) -> String { String(format: "%.1f ms", v * 1000) }
let shape = rate.map { String(format: " at %.0f events/s offered", $0) } ?? " back to back"
print(String(format: "ingest: %d clients x %d-event batches for %.1f s", clients, eventsPerBatch, elapsed) + shape
      + String(format: ": %d batches acknowledged (%d errors), %.0f events/s accepted durably", acks.values.count, acks.errors, accepted / elapsed)
      + acks.kindsText)
if rate != nil && unsent.errors > 0 {
    print("behind the offered rate: \(unsent.errors) batches were due before the end and not sent (their latency is not in the figures below)")
}
print("ack latency\(rate == nil ? "" : " (from each batch's due time)"): p50 \(ms(acks.quantile(0.5))), p99 \(ms(acks.quantile(0.99))), max \(ms(acks.quantile(1)))")
print("dashboard \(page) (one load every \(pageInterval) s): \(pages.values.count) loads (\(pages.errors) errors\(pages.kindsText)), p50 \(ms(pages.quantile(0.5))), p99 \(ms(pages.quantile(0.99))), max \(ms(pages.quantile(1)))")
exit(acks.errors == 0 && pages.errors == 0 && unsent.errors == 0 ? 0 : 1)
