import DeliveryLedger
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// `ledger serve`: the webhook receiver, the JSON API, the dashboard and the metrics of one ledger, as
/// one HTTP service (Hummingbird 2, run under swift-service-lifecycle).
///
/// One ``Ledger`` serves every request: appends run on a writer thread, the batches of concurrent
/// requests committed together (``GroupCommit``: one transaction and fsync for the group, each batch
/// atomic on its own), and are answered only once durable; reads run on reader threads (LMDB read transactions, which never wait for the
/// writer). ``run(onRunning:)`` shuts down gracefully on SIGTERM and SIGINT: the listener closes, the
/// requests already received finish (their appends are durable before they are acknowledged), then
/// the projection is checkpointed and the ledger closed.
public struct LedgerServer: Sendable {
    /// The ledger every request reads and appends to.
    public let ledger: Ledger
    /// Where and how the service listens.
    public let configuration: ServerConfiguration
    let logger: Logger
    let work = BlockingWork()
    let metrics = ServerMetrics()

    /// Creates the service over an open, writable ledger.
    /// - Parameters:
    ///   - ledger: the ledger (opened for writing, shared by all requests).
    ///   - configuration: listen address, body limit, credentials.
    ///   - logger: the access and error log (swift-log).
    public init(ledger: Ledger, configuration: ServerConfiguration, logger: Logger) {
        self.ledger = ledger
        self.configuration = configuration
        self.logger = logger
    }

    /// The routes: webhooks, health, metrics.
    func makeRouter() -> Router<BasicRequestContext> {
        // HEAD on every GET route (RFC 9110 §9.3.2: the GET answer's head, no body): it was 404.
        let router = Router(context: BasicRequestContext.self, options: .autoGenerateHeadEndpoints)
        router.add(middleware: AccessLogMiddleware(metrics: metrics))
        router.add(middleware: UnmatchedRouteMiddleware<BasicRequestContext>(postPaths: Set(WebhookEndpoint.allCases.map(\.path)),
                                                                           getPaths: UnmatchedRouteMiddleware<BasicRequestContext>.readPaths))
        let authentication = WebhookAuthentication(configuration: configuration, sns: SNSClient(timeout: configuration.providers.sns.fetchTimeout),
                                                   work: work, now: configuration.clock)
        let ingest = WebhookIngest(ledger: ledger, configuration: configuration, work: work, metrics: metrics,
                                   groupCommit: GroupCommit(ledger: ledger, work: work, metrics: metrics), authentication: authentication)
        for endpoint in WebhookEndpoint.allCases {
            router.post(RouterPath(endpoint.path)) { request, context in await ingest.handle(request, context: context, endpoint: endpoint) }
        }
        let ledger = self.ledger, metrics = self.metrics, work = self.work
        APIRoutes(ledger: ledger, work: work).add(to: router)
        DashboardRoutes(ledger: ledger, work: work).add(to: router)
        router.get("/openapi.json") { _, _ -> Response in
            guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json"), let data = try? Data(contentsOf: url) else {
                return .text("the OpenAPI document is missing from the installation\n", status: .internalServerError)
            }
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        router.get("/healthz") { _, _ in Response.text("ok\n") }
        router.get("/readyz") { _, _ -> Response in
            // Ready when the ledger answers a query: its basis, through the projection every query
            // reads (503 when another process re-projected it with another rule table, as every
            // query then answers — found by a tester: readyz said ready while all else was 503).
            do {
                let position = try await work.read { try ledger.readyBasis().position }
                return .text("ready: log position \(position)\n")
            } catch {
                return .text("not ready: \(error)\n", status: .serviceUnavailable)
            }
        }
        router.get("/metrics") { _, _ -> Response in
            let bytes = try await work.read { metrics.exposition(ledger: ledger) }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        return router
    }

    /// The Hummingbird application, not yet running.
    /// - Parameter onRunning: called once the listener is bound, with the port (useful with port 0).
    public func makeApplication(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        Application(
            router: makeRouter(),
            // A connection that sends nothing for `idleTimeout` (30 s) — a request head or body left
            // unfinished (slowloris), or an idle keep-alive — is closed; a request fully read is never
            // cut while its append runs. A body that trickles in is answered 408 (RequestBodyDeadlineHandler).
            // An HTTP/1.0 request without keep-alive, or any `Connection: close`, ends the connection
            // after its answer (ConnectionPersistenceHandler: Hummingbird alone kept such connections open).
            // A request SwiftNIO cannot parse, or whose Host field RFC 9112 §3.2 refuses, is answered 400
            // with a located JSON error before any route (RequestHeadCheckHandler).
            server: .http1RespectingPersistence(configuration: .init(idleTimeout: TimeAmount(configuration.idleTimeout)), maximumBodyBytes: configuration.maximumBodyBytes,
                                                onMalformedRequest: { [metrics] reason in metrics.rejected(reason: reason) },
                                                gate: ConnectionGate(limit: ConnectionGate.effectiveLimit(configured: configuration.maximumConnections),
                                                                     onRefusal: { [metrics] in metrics.rejected(reason: "too_many_connections") }),
                                                bodyDeadline: configuration.bodyDeadline),
            configuration: ApplicationConfiguration(address: .hostname(configuration.host, port: configuration.port),
                                                    serverName: "delivery-ledger"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: logger
        )
    }

    /// How long the graceful shutdown may take before the connections still open are closed: 10 s,
    /// SparkPost's own request timeout (its retry comes anyway after that), well inside README's
    /// `TimeoutStopSec=30`.
    public static let gracefulShutdownLimit: Duration = .seconds(10)

    /// Runs until SIGTERM, SIGINT or SIGHUP, then shuts down gracefully (see ``LedgerServer``; at most
    /// ``gracefulShutdownLimit``, then open connections are closed; 5 s later it returns even if a
    /// read still runs, ``BoundedStop``) and checkpoints the projection.
    /// - Parameter onRunning: called once the listener is bound, with the port.
    /// - Throws:
    ///   - ``ListenError`` when the listener cannot be bound to ``ServerConfiguration/host`` and
    ///     ``ServerConfiguration/port``: the address is in use, the port needs privileges, no interface
    ///     of the machine has the address, or the host name does not resolve. Nothing was served.
    ///   - ``LedgerError`` when the checkpoint after the graceful shutdown fails
    ///     (``LedgerError/storage(_:)``, ``LedgerError/corrupt(position:what:)``, as
    ///     ``Ledger/checkpoint()``; not ``LedgerError/rulesChanged(path:persisted:own:)``: then no
    ///     checkpoint is taken, a warning is logged, and the stop is clean). Every acknowledged append is durable and the log intact either
    ///     way: the next open folds the records after the last checkpoint.
    ///   - Any other error that stops the HTTP service while it runs, as swift-service-lifecycle's
    ///     `ServiceGroup` rethrows it (its own `ServiceGroupError`, or SwiftNIO's); no checkpoint is
    ///     taken then, which loses nothing for the same reason.
    public func run(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        // The soft open-file limit up to the hard one first: the default connection limit follows it.
        let files = ConnectionGate.raiseOpenFileLimit()
        let limit = ConnectionGate.effectiveLimit(configured: configuration.maximumConnections)
        if let asked = configuration.maximumConnections, asked > limit {
            logger.warning("--max-connections lowered to the open-file limit less 128", metadata: ["asked": "\(asked)", "maximumConnections": "\(limit)"])
        }
        logger.info("connection limit", metadata: ["maximumConnections": "\(limit)", "openFileLimit": "\(files.map(String.init) ?? "unlimited")"])
        let app = makeApplication(onRunning: onRunning)
        let (shutdownStarted, observer) = AsyncStream<Void>.makeStream()
        var groupConfiguration = ServiceGroupConfiguration(services: [app, ShutdownObserver(started: observer)],
                                                           gracefulShutdownSignals: [.sigterm, .sigint, .sighup], logger: logger)
        // The graceful shutdown is bounded: requests still being received after it are cut (none was
        // acknowledged: the sender sends it again), so that a client uploading slowly cannot hold the
        // stop past systemd's TimeoutStopSec (found by a tester: 79 s with one byte every 5 s).
        groupConfiguration.maximumGracefulShutdownDuration = Self.gracefulShutdownLimit
        let group = ServiceGroup(configuration: groupConfiguration)
        let address = configuration.host.contains(":") ? "[\(configuration.host)]:\(configuration.port)" : "\(configuration.host):\(configuration.port)"
        do {
            // The stop is bounded even when a read cannot be interrupted (``BoundedStop``): the
            // graceful shutdown's limit, then 5 s for the services to return.
            switch await BoundedStop.run({ try await group.run() }, shutdownStarted: shutdownStarted, limit: Self.gracefulShutdownLimit + .seconds(5)) {
            case .finished(let result):
                try result.get()
            case .abandoned:
                logger.warning("stopping without waiting for the requests still running (reads: they change nothing; every acknowledged append is durable)")
            }
        } catch let error as IOError {
            // Binding the listener failed: name the address and the cause, not NIO's call.
            let cause = switch error.errnoCode {
            case EADDRINUSE: "the address is already in use (another service listens there; choose another --listen)"
            case EACCES: "permission denied (ports below 1024 need privileges)"
            case EADDRNOTAVAIL: "no interface of this machine has that address"
            default: String(cString: strerror(error.errnoCode))
            }
            throw ListenError(address: address, cause: cause)
        } catch let error as SocketAddressError.UnknownHost {
            // The host name given to --listen does not resolve (getaddrinfo failed before any bind).
            throw ListenError(address: address, cause: "the host name does not resolve (\(error.errorDescription))")
        }
        do {
            let position = try await work.write { [ledger] in try ledger.checkpoint() }
            logger.info("stopped", metadata: ["checkpoint": "\(position)"])
        } catch let LedgerError.rulesChanged(path, persisted, own) {
            // Another process re-projected with another rule table: this one's checkpoint would
            // write a projection of the wrong table, and is not needed (the log holds every
            // acknowledged append). A clean stop, said as such.
            logger.warning("stopped without a checkpoint: the projection of \(path) was re-projected by another process with rule table \(persisted) (this one ran with \(own)); every acknowledged append is in the log")
        }
    }
}

/// The listener could not be bound (``LedgerServer/run(onRunning:)``): the address and the cause,
/// for people.
public struct ListenError: Error, CustomStringConvertible, Sendable, Hashable {
    /// The address asked for, `host:port` (`[host]:port` for IPv6).
    public var address: String
    /// Why it cannot be bound, for people (e.g. "the address is already in use (…)").
    public var cause: String

    /// Creates the error for an address and its cause.
    public init(address: String, cause: String) {
        self.address = address
        self.cause = cause
    }

    /// `cannot listen on ADDRESS: CAUSE`.
    public var description: String { "cannot listen on \(address): \(cause)" }
}

extension Response {
    /// A `text/plain` answer.
    static func text(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

/// Logs each request (method, path, status, duration in ms, request id) through swift-log at `info`,
/// and records its latency by route template.
struct AccessLogMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        var status = HTTPResponse.Status.internalServerError
        defer {
            let elapsed = ContinuousClock.now - started
            let route = context.endpointPath ?? "unmatched"
            metrics.requestLatency(elapsed, route: route)
            let ms = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
            context.logger.info("\(request.method) \(request.uri.path) \(status.code)", metadata: [
                "http.method": "\(request.method)", "http.path": "\(request.uri.path)", "http.status": "\(status.code)",
                "duration_ms": "\((ms * 1000).rounded() / 1000)", "route": "\(route)",
            ])
        }
        do {
            let response = try await next(request, context)
            status = response.status
            return response
        } catch let error as any HTTPResponseError {
            status = error.status
            throw error
        }
    }
}

/// Explains a request no route answers, instead of Hummingbird's empty 404: a webhook endpoint asked
/// with another method than POST (a browser opening the URL SparkPost was given) is 405 with
/// `Allow: POST`, a read (API, dashboard, operations) asked with another method than GET or HEAD is
/// 405 with `Allow: GET, HEAD` (RFC 9110 §15.5.6); any other unknown method and path is 404. All
/// carry the JSON `{"error", "reason"}` of every other refusal. A trailing slash names the same path.
struct UnmatchedRouteMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The paths that take POST only.
    let postPaths: Set<String>
    /// The paths that take GET (and HEAD) only.
    let getPaths: Set<String>

    /// The read routes of the service (``APIRoutes``, the dashboard, the operations endpoints).
    static var readPaths: Set<String> {
        ["/", "/delivery", "/delivery/chart.svg", "/recipient", "/api/deliveries", "/api/status", "/api/address", "/api/quarantine",
         "/api/timeline", "/api/sending-logs", "/api/audit", "/healthz", "/readyz", "/metrics", "/openapi.json"]
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound && context.endpointPath == "NotFound" {
            var path = request.uri.path
            if path.count > 1, path.hasSuffix("/") { path.removeLast() }
            if postPaths.contains(path) && request.method != .post {
                var response = JSONResponse.make(ErrorAnswer(error: "\(path) takes POST (a webhook endpoint), not \(request.method)", reason: "method_not_allowed"),
                                                 status: .methodNotAllowed)
                response.headers[.allow] = "POST"
                return response
            }
            if getPaths.contains(path) && request.method != .get && request.method != .head {
                var response = JSONResponse.make(ErrorAnswer(error: "\(path) takes GET or HEAD, not \(request.method)", reason: "method_not_allowed"),
                                                 status: .methodNotAllowed)
                response.headers[.allow] = "GET, HEAD"
                return response
            }
            return JSONResponse.make(ErrorAnswer(error: "no endpoint answers \(request.method) \(path); GET /openapi.json lists them", reason: "not_found"),
                                     status: .notFound)
        }
    }
}
