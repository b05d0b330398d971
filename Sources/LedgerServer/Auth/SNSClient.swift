import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The SES endpoint's outgoing requests: signing certificates fetched from their `SigningCertURL`
/// and cached by URL, and subscription confirmations (a GET of the `SubscribeURL`). Foundation's
/// `URLSession` (FoundationNetworking on Linux): no HTTP client dependency for two small GETs.
///
/// Only URLs the caller has allowed are requested (``SNSURLPolicy``), redirects are never followed
/// (a redirect could leave the allowed host), and a certificate is at most 64 KiB. A failed fetch is
/// not cached: the next message tries again.
final class SNSClient: Sendable {
    /// The most certificates kept (SNS signs with one certificate a region at a time; a few old ones
    /// remain valid while retries drain).
    static let cacheLimit = 64
    /// The largest certificate accepted, in bytes.
    static let certificateLimit = 64 << 10

    private let session: URLSession
    private let timeout: TimeInterval
    private let cache = CertificateCache()

    init(timeout: Duration) {
        let configuration = URLSessionConfiguration.ephemeral
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        configuration.timeoutIntervalForRequest = seconds
        configuration.timeoutIntervalForResource = seconds
        configuration.httpCookieStorage = nil
        configuration.urlCache = nil
        self.timeout = seconds
        session = URLSession(configuration: configuration, delegate: NoRedirects(), delegateQueue: nil)
    }

    /// An outgoing request that failed: the URL and what happened, for the log and the answer.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The PEM certificate at `url`, from the cache or fetched (concurrent requests for one URL share
    /// one fetch).
    /// - Throws: ``Failure`` when the fetch fails, answers other than 200, or is not a PEM certificate
    ///   of at most ``certificateLimit`` bytes.
    func certificate(at url: String) async throws -> String {
        let task = await cache.task(for: url) { [self] in
            let (data, status) = try await get(url)
            guard status == 200 else { throw Failure(description: "GET \(url) answered \(status)") }
            guard data.count <= Self.certificateLimit, let text = String(data: data, encoding: .utf8),
                  text.contains("-----BEGIN CERTIFICATE-----") else {
                throw Failure(description: "GET \(url) did not answer a PEM certificate")
            }
            return text
        }
        do { return try await task.value } catch {
            await cache.forget(url)
            throw error
        }
    }

    /// Confirms a subscription: GET `url`, expecting 200 (SNS answers a
    /// `ConfirmSubscriptionResponse` document).
    /// - Throws: ``Failure``.
    func confirm(_ url: String) async throws {
        let (_, status) = try await get(url)
        guard status == 200 else { throw Failure(description: "GET \(url) answered \(status)") }
    }

    private func get(_ url: String) async throws -> (Data, Int) {
        guard let u = URL(string: url) else { throw Failure(description: "not a URL: \(url)") }
        var request = URLRequest(url: u, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: timeout)
        request.httpMethod = "GET"
        do {
            let (data, response) = try await session.data(for: request)
            return (data, (response as? HTTPURLResponse)?.statusCode ?? 0)
        } catch {
            throw Failure(description: "GET \(url): \(error.localizedDescription)")
        }
    }
}

/// The certificates by URL, each as the task that fetches it.
private actor CertificateCache {
    private var tasks: [String: Task<String, any Error>] = [:]

    func task(for url: String, fetch: @escaping @Sendable () async throws -> String) -> Task<String, any Error> {
        if let task = tasks[url] { return task }
        if tasks.count >= SNSClient.cacheLimit, let any = tasks.keys.first { tasks[any] = nil }
        let task = Task { try await fetch() }
        tasks[url] = task
        return task
    }

    func forget(_ url: String) { tasks[url] = nil }
}

/// Refuses every redirect: the answer of the allowed URL itself is the answer.
private final class NoRedirects: NSObject, URLSessionTaskDelegate, Sendable {
    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void) {
        completionHandler(nil)
    }
}
