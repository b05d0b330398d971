import DeliveryLedger

/// How `ledger serve` runs: where it listens, what it accepts, who may post.
public struct ServerConfiguration: Sendable {
    /// The host or address to bind: `127.0.0.1` by default (loopback: put a reverse proxy in front
    /// to expose it).
    public var host: String = "127.0.0.1"
    /// The TCP port: 8025 by default; 0 lets the system choose (tests).
    public var port: Int = 8025
    /// The largest request body accepted, in bytes: 32 MiB by default (Momentum sends batches of up
    /// to 10,000 events). A larger body is answered 413 and not read further.
    public var maximumBodyBytes: Int = 32 << 20
    /// The HTTP Basic credentials of the endpoints that use Basic auth (`/webhooks/sparkpost`,
    /// `/events`, `/webhooks/postmark`, `/webhooks/brevo`, `/webhooks/mailjet`); `nil`: those
    /// endpoints answer 503 `not_configured` (unless ``insecureNoAuthentication``).
    public var credentials: Credentials?
    /// `--insecure-no-auth`: every webhook endpoint accepts every request, no credentials, no
    /// signature checked (SNS subscriptions are then never confirmed by the service, only logged).
    public var insecureNoAuthentication = false
    /// The providers' signature keys, SNS settings and signature ages (README "The service",
    /// per provider).
    public var providers = ProviderAuthentication()
    /// The SparkPost field holding the delivery id (`ledger ingest --delivery-key`); `nil` for
    /// `campaign_id`, else `transmission_id`. `/webhooks/sparkpost` only: the provider endpoints take
    /// the delivery id from each provider's grouping field (README "Input: email service providers").
    public var deliveryKey: String?
    /// The current time (UTC): for providers' signed timestamps and the readers' reference instant.
    /// The system clock; injected by tests.
    public var clock: @Sendable () -> Instant = Ledger.systemClock
    /// The most connections held open at once; one more is answered `503` with `Retry-After: 1`
    /// and closed before anything of it is read. At most, and by default (`nil`), the process's open-file limit less 128
    /// (``LedgerServer`` raises the soft limit to the hard one at start), so that the service never
    /// runs out of file descriptors (README "The service", Connections).
    public var maximumConnections: Int?
    /// How fast a request body must arrive (``BodyDeadline``: 20 s from its head, and one more second
    /// for every 500 bytes received, Apache's `mod_reqtimeout` default); a slower one is answered
    /// `408` `request_timeout` and nothing of it is appended.
    public var bodyDeadline = BodyDeadline()
    /// How long a connection may send nothing — a request head or body left unfinished (slowloris),
    /// an idle keep-alive — before it is closed: 30 s by default, above SparkPost's 10 s request
    /// timeout and a proxy's usual read timeout. A request fully read is never cut while its answer
    /// is worked out.
    public var idleTimeout: Duration = .seconds(30)

    /// Creates the default configuration (loopback port 8025, 32 MiB bodies, no credentials, no keys).
    public init() {}

    /// Whether any webhook authentication is configured (credentials, a provider key, an SNS topic or
    /// certificate): `ledger serve` refuses to start without one unless ``insecureNoAuthentication``.
    public var hasWebhookAuthentication: Bool {
        credentials != nil || !providers.mailgunSigningKeys.isEmpty || !providers.sendGridPublicKeys.isEmpty
            || !providers.postalPublicKeys.isEmpty || !providers.sns.topicArns.isEmpty || !providers.sns.certificates.isEmpty
    }

    /// Reads `HOST:PORT` (`127.0.0.1:8025`, `localhost:8025`, `[::1]:8025`, `0.0.0.0:8025`).
    /// - Returns: the host (without brackets) and the port (0...65535), or `nil` when `text` is not of
    ///   that form.
    public static func parseListen(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":") else { return nil }
        var host = String(text[..<colon])
        guard let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port), !host.isEmpty else { return nil }
        if host.hasPrefix("[") {
            guard host.hasSuffix("]"), host.count > 2 else { return nil }
            host = String(host.dropFirst().dropLast())
        } else if host.contains(":") {
            return nil  // an IPv6 address must be bracketed: [::1]:8025
        }
        return (host, port)
    }
}
