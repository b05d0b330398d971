import DeliveryLedger
import Hummingbird

/// The dashboard's routes: `/`, `/delivery`, `/delivery/chart.svg`, `/recipient` (``DashboardPages``), rendered on reader
/// threads. A bad parameter is a 400 page, an unknown delivery or recipient a 404 page.
struct DashboardRoutes: Sendable {
    let ledger: Ledger
    let work: BlockingWork

    func add(to router: Router<BasicRequestContext>) {
        router.get("/") { request, _ in await page(request) { q, bounds, picker in
            var list = DashboardPages.DeliveriesQuery()
            list.search = q["search"]
            list.page = try q.positiveInt("page", default: 1, maximum: 1 << 30)
            list.pageSize = try q.positiveInt("pageSize", default: 100, maximum: 1000)
            let chosen = list
            return try await work.read { [ledger] in try DashboardPages.deliveries(ledger: ledger, bounds: bounds, picker: picker, list: chosen) }
        } }
        router.get("/delivery") { request, _ in await page(request) { q, bounds, picker in
            let delivery = try q.required("delivery")
            var logs = DashboardPages.LogsQuery()
            logs.semantics = try q.oneOf("semantics", Semantics.self) ?? .classic
            logs.status = try q.oneOf("status", MessageStatus.self)
            logs.search = q["search"]
            logs.page = try q.positiveInt("page", default: 1, maximum: 1 << 30)
            logs.pageSize = try q.positiveInt("pageSize", default: 50, maximum: 1000)
            let chosen = logs
            return try await work.read { [ledger] in
                try DashboardPages.delivery(ledger: ledger, delivery: delivery, bounds: bounds, picker: picker, logs: chosen)
            }
        } }
        router.get("/delivery/chart.svg") { request, _ -> Response in
            do {
                let q = try Query(request.uri.query)
                let delivery = try q.required("delivery")
                guard let svg = try await work.readHeavy({ [ledger] in try DashboardPages.chart(ledger: ledger, delivery: delivery) }) else {
                    return Self.html(HTML.page(title: "Not found", picker: Picker(), body: "<h1>Not found</h1><p>No such delivery.</p>"), status: .notFound)
                }
                return Response(status: .ok, headers: [.contentType: "image/svg+xml; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: svg)))
            } catch let error as BadParameter {
                return Self.html(HTML.page(title: "Bad request", picker: Picker(), body: "<h1>Bad request</h1><p>\(HTML.escape(error.description))</p>"), status: .badRequest)
            } catch {
                return Self.html(HTML.page(title: "Error", picker: Picker(), body: "<h1>The ledger could not answer</h1><p>\(HTML.escape("\(error)"))</p>"), status: .serviceUnavailable)
            }
        }
        router.get("/recipient") { request, _ in await page(request) { q, bounds, picker in
            let delivery = try q.required("delivery")
            let recipient = try q.required("recipient")
            do { _ = try Address.parse(recipient) } catch { throw BadParameter(name: "recipient", message: "'\(recipient)' is not an email address: \(error)") }
            return try await work.read { [ledger] in
                try DashboardPages.recipient(ledger: ledger, delivery: delivery, recipient: recipient, bounds: bounds, picker: picker)
            }
        } }
    }

    private func page(_ request: Request, _ body: (Query, TimeBounds, Picker) async throws -> String?) async -> Response {
        do {
            let q = try Query(request.uri.query)
            let bounds = try q.bounds()
            guard let html = try await body(q, bounds, Picker(asOf: q["asOf"], knownAt: q["knownAt"])) else {
                return Self.html(HTML.page(title: "Not found", picker: Picker(), body: "<h1>Not found</h1><p>No such delivery or recipient.</p>"), status: .notFound)
            }
            return Self.html(html, status: .ok)
        } catch let error as BadParameter {
            return Self.html(HTML.page(title: "Bad request", picker: Picker(), body: "<h1>Bad request</h1><p>\(HTML.escape(error.description))</p>"), status: .badRequest)
        } catch {
            return Self.html(HTML.page(title: "Error", picker: Picker(), body: "<h1>The ledger could not answer</h1><p>\(HTML.escape("\(error)"))</p>"), status: .serviceUnavailable)
        }
    }

    static func html(_ text: String, status: HTTPResponse.Status) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
