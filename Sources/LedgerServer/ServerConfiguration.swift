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
    /// The HTTP Basic credentials the webhook endpoints require; `nil` accepts every request
    /// (`--insecure-no-auth`).
    public var credentials: Credentials?
    /// The SparkPost field holding the delivery id (`ledger ingest --delivery-key`); `nil` for
    /// `campaign_id`, else `transmission_id`.
    public var deliveryKey: String?

    /// Creates the default configuration (loopback port 8025, 32 MiB bodies, no credentials).
    public init() {}

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
