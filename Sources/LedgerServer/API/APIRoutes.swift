import DeliveryLedger
import Foundation
import Hummingbird
import LedgerReports

/// The JSON API: the documents the CLI prints, read on reader threads (LMDB read transactions).
///
/// - `GET /api/deliveries?semantics=classic|efs|both&delivery=&asOf=&knownAt=` — `ledger project --format json`
/// - `GET /api/status?recipient=&delivery=&asOf=&knownAt=` — `ledger status --format json` (an array)
/// - `GET /api/address?address=&asOf=` — one address's quarantine status across deliveries
/// - `GET /api/quarantine?asOf=` — `ledger quarantine --format json`
/// - `GET /api/timeline?delivery=&bucket=1h` — `ledger timeline --format json`
/// - `GET /api/sending-logs?delivery=&semantics=&status=&search=&page=&pageSize=&asOf=&knownAt=`
/// - `GET /api/audit?delivery=&now=&lateAfter=86400&kind=a,b` — `ledger audit --format json`
/// - `GET /api/domains?delivery=&now=` — `ledger domains --format json`
///
/// Described by `Schemas/openapi.json` (served at `/openapi.json`). A bad parameter is 400, an
/// unknown delivery, recipient or address 404, both with `{"error", "reason"}`.
struct APIRoutes: Sendable {
    let ledger: Ledger
    let work: BlockingWork

    func add(to router: Router<BasicRequestContext>) {
        router.get("/api/deliveries") { request, _ in await answer(request) { q in
            let selection = try q.oneOf("semantics", SemanticsSelection.self)
            let bounds = try q.bounds()
            let delivery = q["delivery"]
            return try await work.read { [ledger] in
                try ProjectReport(ledger: ledger, semantics: selection, delivery: delivery, bounds: bounds).document
            }
        } }
        router.get("/api/status") { request, _ in await answer(request) { q in
            let recipient = try q.required("recipient")
            do { _ = try Address.parse(recipient) } catch { throw BadParameter(name: "recipient", message: "'\(recipient)' is not an email address: \(error)") }
            let bounds = try q.bounds()
            let delivery = q["delivery"]
            let reports = try await work.read { [ledger] () throws -> [StatusJSON] in
                let deliveries = try delivery.map { [$0] } ?? ledger.deliveries(containing: recipient)
                return try deliveries.compactMap { try ledger.status(delivery: $0, recipient: recipient, at: bounds).map(StatusJSON.init) }
            }
            guard !reports.isEmpty else { throw NotFound(what: "no events for \(recipient)" + (delivery.map { " in delivery '\($0)'" } ?? "")) }
            return reports
        } }
        router.get("/api/address") { request, _ in await answer(request) { q in
            let address = try q.required("address")
            do { _ = try Address.parse(address) } catch { throw BadParameter(name: "address", message: "'\(address)' is not an email address: \(error)") }
            let asOf = try q.bounds().asOf
            guard let report = try await work.read({ [ledger] in try ledger.addressStatus(address, asOf: asOf) }) else {
                throw NotFound(what: "no events for \(address)")
            }
            return AddressJSON(report)
        } }
        router.get("/api/quarantine") { request, _ in await answer(request) { q in
            let asOf = try q.bounds().asOf
            return try await work.readHeavy { [ledger] in try QuarantineJSON(ledger: ledger, asOf: asOf) }
        } }
        router.get("/api/timeline") { request, _ in await answer(request) { q in
            let delivery = try q.required("delivery")
            let bucket = q["bucket"] ?? "1h"
            guard let seconds = TimelineJSON.seconds(bucket) else {
                throw BadParameter(name: "bucket", message: "'\(bucket)' is not like 30s, 15m, 1h or 1d (at most 366d)")
            }
            return try await work.readHeavy { [ledger] in
                guard try ledger.hasDelivery(delivery) else { throw NotFound(what: "unknown delivery '\(delivery)'") }
                return try TimelineJSON(ledger: ledger, delivery: delivery, bucket: bucket, bucketSeconds: seconds)
            }
        } }
        router.get("/api/sending-logs") { request, _ in await answer(request) { q in
            let delivery = try q.required("delivery")
            let semantics = try q.oneOf("semantics", Semantics.self) ?? .classic
            let status = try q.oneOf("status", MessageStatus.self)
            let page = try q.positiveInt("page", default: 1, maximum: 1 << 30)
            let pageSize = try q.positiveInt("pageSize", default: 50, maximum: 1000)
            let bounds = try q.bounds()
            let search = q["search"]
            guard let logs = try await work.read({ [ledger] in
                try SendingLogsJSON(ledger: ledger, delivery: delivery, semantics: semantics, status: status, search: search,
                                    page: page, pageSize: pageSize, bounds: bounds)
            }) else { throw NotFound(what: "unknown delivery '\(delivery)'") }
            return logs
        } }
        router.get("/api/audit") { request, _ in await answer(request) { q in
            let delivery = try q.required("delivery")
            let now = try instant(q, "now")
            let lateAfter = try q.positiveInt("lateAfter", default: 86_400, maximum: 100 * 366 * 86_400)
            var kinds: Set<AuditFinding.Kind> = []
            for name in (q["kind"] ?? "").split(separator: ",") {
                guard let kind = AuditFinding.Kind(rawValue: String(name)) else {
                    throw BadParameter(name: "kind", message: "'\(name)' is not one of \(AuditFinding.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                kinds.insert(kind)
            }
            return try await work.readHeavy { [ledger, now, kinds] in
                guard try ledger.hasDelivery(delivery) else { throw NotFound(what: "unknown delivery '\(delivery)'") }
                let findings = try ledger.audit(delivery: delivery, now: now, lateAfterSeconds: Int64(lateAfter))
                return AuditJSON(delivery: delivery, now: now, lateAfterSeconds: Int64(lateAfter), findings: findings, kinds: kinds)
            }
        } }
        router.get("/api/domains") { request, _ in await answer(request) { q in
            let delivery = try q.required("delivery")
            let now = try instant(q, "now")
            guard let breakdown = try await work.readHeavy({ [ledger] in
                try ledger.domainBreakdown(delivery: delivery, semantics: .classic, now: now)
            }) else { throw NotFound(what: "unknown delivery '\(delivery)'") }
            return DomainsJSON(breakdown)
        } }
    }

    /// `now=`: an RFC 3339 instant, or the system clock when absent.
    private func instant(_ q: Query, _ name: String) throws -> Instant {
        guard let text = q[name] else { return Ledger.systemClock() }
        guard let instant = Instant(rfc3339: text) else {
            throw BadParameter(name: name, message: "'\(text)' " + (Instant.rfc3339Problem(text) ?? "is not an accepted instant"))
        }
        return instant
    }

    /// Runs `body` and answers its document as JSON (pretty-printed, with a final newline, as the CLI
    /// prints it), or the error: 400 for a bad parameter (or a question the ledger refuses as asked,
    /// ``LedgerError/invalidArgument(_:)``), 404 for something unknown, 503 for a ledger error.
    private func answer(_ request: Request, _ body: (Query) async throws -> some Encodable & Sendable) async -> Response {
        do {
            let document = try await body(try Query(request.uri.query))
            var data = try ReportJSON.data(document, pretty: true)
            data.append(0x0A)
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
        } catch let error as BadParameter {
            return JSONResponse.make(ErrorAnswer(error: error.description, reason: "bad_parameter"), status: .badRequest)
        } catch let error as NotFound {
            return JSONResponse.make(ErrorAnswer(error: error.what, reason: "not_found"), status: .notFound)
        } catch let LedgerError.invalidArgument(message) {
            // A question the ledger cannot answer as asked (a timeline of too many points): the asker's to change.
            return JSONResponse.make(ErrorAnswer(error: message, reason: "bad_parameter"), status: .badRequest)
        } catch let error as UnknownDelivery {
            return JSONResponse.make(ErrorAnswer(error: error.description, reason: "not_found"), status: .notFound)
        } catch {
            return JSONResponse.make(ErrorAnswer(error: "\(error)", reason: "storage"), status: .serviceUnavailable)
        }
    }
}

/// Something asked for that the ledger does not hold: answered 404.
struct NotFound: Error, Sendable {
    var what: String
}
