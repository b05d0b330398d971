import DeliveryLedger
import Foundation
import HTTPTypes
import Hummingbird
import LedgerIngest
import Logging
import NIOCore
import NIOHTTP1

/// What a webhook request did, as its 200 answer says it (`application/json`).
struct IngestAnswer: Encodable, Sendable {
    /// Events appended by this request (durable when the answer is sent).
    var appended: Int
    /// Events the ledger already held (same id, same content): a repeated batch appends nothing.
    var duplicates: Int
    /// Elements not recorded, by type (`ping`, `open`, `click`, …).
    var skipped: [String: Int]
    /// The log's last position after the append (0 when nothing was appended and the log is empty).
    var lastPosition: UInt64
    /// The sender's batch id (`X-MessageSystems-Batch-ID`), when it sent one.
    var batchId: String?
    /// An Amazon SNS subscription message's outcome (`POST /webhooks/ses`): `confirmed` (the service
    /// visited the SubscribeURL), `pending` (the URL is logged for the operator), `unsubscribed`.
    var subscription: String?
    /// Said when no element of the body is a complete event of the endpoint's provider
    /// (``ParsedInput/skippedIncomplete``): another provider's webhooks pointed here? The
    /// elements are skipped and counted, and the answer is still 200: a provider's new event type
    /// must not make it retry for hours.
    var warning: String?
}

/// A refused request's answer (`application/json`): the reason and, for a bad batch, where in the
/// body the error is (the reader's ``IngestError`` fields).
struct ErrorAnswer: Encodable, Sendable {
    /// The reason, for people.
    var error: String
    /// A stable, machine-readable reason (also the `reason` label of the rejected-requests metric).
    var reason: String
    /// The 1-based line of a JSON Lines body.
    var line: Int?
    /// The 0-based element index in a SparkPost batch.
    var element: Int?
    /// The field (source names, dotted: `msys.message_event.rcpt_to`).
    var field: String?
    /// The byte offset in the body.
    var offset: Int?
}

/// The webhook endpoints' work, the same for every endpoint (``WebhookEndpoint``): authenticate
/// (``WebhookAuthentication``: HTTP Basic on the head; a provider's signature on the raw body, before
/// anything is decoded), read the body within the limit, decode it with the readers `ledger ingest`
/// uses (``FeedReader`` with the endpoint's format), append it as one atomic batch — committed
/// together with the batches of concurrent requests (``GroupCommit``) — and answer 200 only once that
/// commit is durable (LMDB synced it).
struct WebhookIngest: Sendable {
    let ledger: Ledger
    let configuration: ServerConfiguration
    let work: BlockingWork
    let metrics: ServerMetrics
    let groupCommit: GroupCommit
    let authentication: WebhookAuthentication

    /// Handles one webhook request.
    func handle(_ request: Request, context: some RequestContext, endpoint: WebhookEndpoint) async -> Response {
        if let refusal = authentication.checkHead(endpoint, headers: request.headers) {
            return refuse(refusal)
        }
        // A compressed body (Content-Encoding: gzip) would reach the readers as bytes that are not
        // JSON: say what is wrong instead (RFC 9110 §15.5.16: 415, with the codings accepted).
        if let coding = request.headers[.contentEncoding],
           !coding.split(separator: ",").allSatisfy({ $0.trimmingCharacters(in: .whitespaces).lowercased() == "identity" }) {
            return refuse(.unsupportedMediaType, "unsupported_content_encoding",
                          "the body is sent with Content-Encoding: \(coding); only an uncompressed body (identity) is read: send it without compression; nothing was appended",
                          headers: [.acceptEncoding: "identity"])
        }
        if let declared = declaredContentLength(request.headers[.contentLength]), declared > configuration.maximumBodyBytes {
            return refuse(.contentTooLarge, "body_too_large",
                          "the body (\(request.headers[.contentLength] ?? "\(declared)") bytes) is over the limit of \(configuration.maximumBodyBytes) bytes (--max-body)")
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: configuration.maximumBodyBytes)
        } catch is NIOTooManyBytesError {
            return refuse(.contentTooLarge, "body_too_large",
                          "the body is over the limit of \(configuration.maximumBodyBytes) bytes (--max-body)")
        } catch is RequestBodyTimedOut {
            // Answered 408 and counted already (RequestBodyDeadlineHandler); this answer is never written.
            return Response(status: .requestTimeout)
        } catch {
            // The connection ended before the body did, or its framing broke (a chunk-size line
            // that is not hexadecimal): nothing is read, nothing appended. A client still
            // listening gets the reason, as for every other refusal.
            context.logger.notice("request body cut off", metadata: ["error": "\(error)"])
            let why = (error as? HTTPParserError).map { RequestHeadCheckHandler.describeInBody($0) } ?? "\(error)"
            return refuse(.badRequest, "body_incomplete", "the request body could not be read to its end (\(why)); nothing was appended")
        }
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared != body.readableBytes {
            return refuse(.badRequest, "body_incomplete", "the body has \(body.readableBytes) bytes, Content-Length says \(declared)")
        }
        let batchId = request.headers[HTTPField.Name("X-MessageSystems-Batch-ID")!]
        let bytes = Array(body.readableBytesView)
        switch await authentication.checkBody(endpoint, headers: request.headers, body: bytes, logger: context.logger) {
        case .failure(let refusal):
            context.logger.notice("webhook refused", metadata: ["endpoint": "\(endpoint.path)", "reason": "\(refusal.reason)", "error": "\(refusal.message)"])
            return refuse(refusal)
        case .success(.subscription(let state, let type)):
            let skipped = ["ses SNS \(type)": 1]
            metrics.batch(format: endpoint, skipped: skipped)
            return answer(IngestAnswer(appended: 0, duplicates: 0, skipped: skipped, lastPosition: await position(), subscription: state))
        case .success(.accepted):
            break
        }
        // The empty POST SparkPost sends when a webhook is created or tested: nothing to record.
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            metrics.batch(format: endpoint, skipped: [:])
            return answer(IngestAnswer(appended: 0, duplicates: 0, skipped: [:], lastPosition: await position(), batchId: batchId))
        }
        // --delivery-key names a SparkPost field; the providers group by their own field (README table).
        var options = IngestOptions(format: endpoint.inputFormat, deliveryKey: endpoint == .sparkpost ? configuration.deliveryKey : nil,
                                    skipInvalid: false)
        options.reference = configuration.clock()
        let parsed: ParsedInput
        let prepared: PreparedBatch
        do {
            // Decoded off the cooperative pool (a 10,000-event batch is tens of milliseconds of CPU),
            // and made ready to append there too (validated, raw bytes compressed): not on the writer.
            (parsed, prepared) = try await work.compute { [options, ledger] in
                let parsed = try FeedReader.read(bytes, file: endpoint.name, options: options)
                return (parsed, ledger.prepare(parsed.events))
            }
        } catch let error as IngestError {
            var metadata: Logger.Metadata = ["error": "\(error)"]
            if let batchId { metadata["batch"] = "\(batchId)" }
            context.logger.notice("malformed \(endpoint.name)", metadata: metadata)
            return refuse(.badRequest, "malformed", error.description,
                          located: (error.line, error.element, error.field, error.offset))
        } catch {
            return refuse(.badRequest, "malformed", "\(error)")
        }
        let events = parsed.events
        let result: AppendResult
        switch await groupCommit.append(prepared) {
        case .success(let appended): result = appended
        case .failure(let error):
            // Said in the log at notice (as a malformed batch is): the sender will send it again, and
            // an operator reading the log alone saw only "POST … 409" (found by a fresh user).
            var metadata: Logger.Metadata = ["endpoint": "\(endpoint.path)", "error": "\(error)"]
            if let batchId { metadata["batch"] = "\(batchId)" }
            context.logger.notice("batch refused", metadata: metadata)
            return refuse(ledgerError: error, parsed: parsed)
        }
        metrics.batch(format: endpoint, events: events, duplicates: result.duplicates, skipped: parsed.skipped)
        context.logger.info("batch appended", metadata: [
            "endpoint": "\(endpoint.path)", "appended": "\(result.appended)", "duplicates": "\(result.duplicates.count)", "batch": "\(batchId ?? "")",
        ])
        var warning: String? = nil
        let incomplete = parsed.skippedIncomplete.values.reduce(0, +)
        if events.isEmpty, incomplete > 0, incomplete == parsed.skipped.values.reduce(0, +) {
            let found = parsed.skippedIncomplete.keys.sorted().joined(separator: ", ")
            warning = "no element is a complete \(endpoint.rawValue) event (skipped: \(found)): another provider's webhooks sent to \(endpoint.path)?"
            context.logger.warning("\(warning!)", metadata: ["endpoint": "\(endpoint.path)", "batch": "\(batchId ?? "")"])
        }
        return answer(IngestAnswer(appended: result.appended, duplicates: result.duplicates.count, skipped: parsed.skipped,
                                   lastPosition: result.lastPosition, batchId: batchId, warning: warning))
    }

    /// The log's last position, for answers that appended nothing (0 when it cannot be read).
    private func position() async -> UInt64 {
        (try? await work.read { [ledger] in try ledger.basis().position }) ?? 0
    }

    /// The answer to a ledger error: an invalid event 400, an id already recorded with other content
    /// 409 (retrying cannot help), anything else (storage, full disk) 503 (the sender retries later;
    /// nothing was appended).
    private func refuse(ledgerError error: LedgerError, parsed: ParsedInput) -> Response {
        switch error {
        case let .invalidEvent(index, id, validation):
            return refuse(.badRequest, "invalid_event", "\(locate(index, parsed)) (id '\(id)'): \(validation)")
        case let .conflict(index, id, _, position, other):
            let earlier = position.map { "the ledger already holds an event with this id at position \($0)" }
                ?? "\(locate(other ?? 0, parsed)) has the same id"
            return refuse(.conflict, "conflict", "\(locate(index, parsed)) (id '\(id)'): \(earlier) with different content")
        default:
            return refuse(.serviceUnavailable, "storage", "\(error)")
        }
    }

    private func locate(_ index: Int, _ parsed: ParsedInput) -> String {
        index < parsed.locations.count ? parsed.locations[index] : "event \(index + 1)"
    }

    private func refuse(_ refusal: Refusal) -> Response {
        refuse(refusal.status, refusal.reason, refusal.message, headers: refusal.headers)
    }

    private func refuse(_ status: HTTPResponse.Status, _ reason: String, _ message: String,
                        located: (Int?, Int?, String?, Int?) = (nil, nil, nil, nil), headers: HTTPFields = [:]) -> Response {
        metrics.rejected(reason: reason)
        let body = ErrorAnswer(error: message, reason: reason, line: located.0, element: located.1, field: located.2, offset: located.3)
        var response = JSONResponse.make(body, status: status)
        for field in headers { response.headers.append(field) }
        return response
    }

    private func answer(_ body: IngestAnswer) -> Response { JSONResponse.make(body, status: .ok) }
}

/// JSON answers: keys sorted, slashes unescaped, as the CLI writes its documents.
enum JSONResponse {
    static func make(_ value: some Encodable, status: HTTPResponse.Status) -> Response {
        Response(status: status, headers: [.contentType: "application/json"],
                 body: .init(byteBuffer: ByteBuffer(bytes: encoded(value))))
    }

    /// A whole HTTP/1.1 error answer as bytes to write past SwiftNIO's encoder (the refusals made
    /// before a request reaches Hummingbird: ``RequestHeadCheckHandler``, ``OverLimitHandler``): the
    /// status line, `Content-Type`, `Content-Length`, `extraHeaders`, `Connection: close`, then
    /// `answer` as JSON and a newline.
    static func rawErrorAnswer(code: Int, reasonPhrase: String, _ answer: ErrorAnswer, extraHeaders: String = "") -> String {
        let body = String(decoding: encoded(answer), as: UTF8.self) + "\n"
        return "HTTP/1.1 \(code) \(reasonPhrase)\r\nDate: \(httpDate())\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n"
            + extraHeaders + "Connection: close\r\n\r\n" + body
    }

    /// `date` as an HTTP date, the IMF-fixdate form (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110
    /// §5.6.7): the `Date` field an origin server with a clock MUST send in its 2xx–4xx answers
    /// (§6.6.1) — the answers written before any route (400, 408, 411, 431, 501, 503) had none.
    static func httpDate(_ date: Date = Date()) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }

    private static func encoded(_ value: some Encodable) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)) ?? Data("{}".utf8)
    }
}
