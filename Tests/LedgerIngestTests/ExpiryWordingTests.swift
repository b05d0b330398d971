import Testing
@testable import LedgerIngest

/// Expiry wordings of other MTAs read as a timeout (issue #14), each from the MTA's own text.
@Suite struct ExpiryWordingTests {
    @Test("sendmail, Exchange, Exim, qmail, Postfix give-up texts are expiries; a delay warning is not", arguments: [
        ("Cannot send message for 5 days", true),  // sendmail Timeout.queuereturn
        ("The message couldn't be delivered within the configured expiration time", true),  // Exchange NDR 4.4.7
        ("Message could not be delivered within the time limit", true),
        ("retry timeout exceeded", true),  // Exim
        ("I'm not going to try again; this message has been in the queue too long.", true),  // qmail
        ("message could not be delivered for 5 days", true),  // Postfix
        ("Warning: could not send message for past 4 hours", false),  // sendmail's delay warning
        ("Cannot send message: user unknown", false),
    ])
    func expiry(text: String, expired: Bool) {
        #expect(DSNPlainText.saysExpired(text) == expired, "\(text)")
    }
}
