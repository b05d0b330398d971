import Crypto
import Synchronization

/// The Mailgun tokens the service has accepted, each with the SHA-256 digest of the body it came
/// with, so that a signature block cannot be reused on another body.
///
/// Mailgun signs `timestamp` + `token`, not the body (Mailgun, "Securing Webhooks"), so a captured
/// request's signature block would verify with any `event-data` until it is stale. Mailgun's advice
/// is to cache tokens and refuse a token seen before; a plain token cache would also refuse Mailgun's
/// own retries (a retry carries the original signature block and body), so a token is refused only
/// when it comes back with a **different** body: a retry passes (and appends nothing new: the event-id
/// index), a reused signature on a changed body is refused.
///
/// Bounded: the oldest tokens are forgotten first beyond ``limit`` (about 150 bytes each), and the
/// cache does not survive a restart — a best-effort guard, documented in README "Mailgun". Thread-safe.
final class MailgunTokens: Sendable {
    /// The most tokens remembered: 100,000 (about 15 MB).
    let limit: Int
    private struct State {
        var digests: [String: [UInt8]] = [:]
        var order: [String] = []
        var next = 0
    }
    private let state = Mutex(State())

    init(limit: Int = 100_000) { self.limit = max(1, limit) }

    /// Records `token` with `body`'s digest.
    /// - Returns: `false` when the token was accepted before with another body (nothing recorded).
    func admit(token: String, body: [UInt8]) -> Bool {
        let digest = Array(SHA256.hash(data: body))
        return state.withLock { s in
            if let known = s.digests[token] { return known == digest }
            if s.order.count < limit {
                s.order.append(token)
            } else {
                s.digests[s.order[s.next]] = nil
                s.order[s.next] = token
                s.next = (s.next + 1) % limit
            }
            s.digests[token] = digest
            return true
        }
    }
}
