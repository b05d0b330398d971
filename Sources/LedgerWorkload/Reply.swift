/// The remote (or MTA-internal) responses the generator reports, with their SparkPost bounce
/// class, SMTP reply code and enhanced status code.
///
/// Texts are the real ones quoted in reference/mta.md §1 and the shared corpus (Gmail, Outlook,
/// Yahoo, Postfix, Spamhaus, Momentum `[internal]` texts). SparkPost's `reason` is the
/// canonicalised text (IP addresses masked as `a.b.c.d`, addresses as `...@...`); `raw_reason`
/// (and the canonical `response`) is the text as received.
enum Reply: UInt8, CaseIterable {
    // 4xx, on `delay` events.
    case greylisting
    case yahooDeferral
    case overQuota
    case noMX
    case connectionTimedOut
    // 5xx, in-band final `bounce`.
    case gmailNoSuchUser
    case outlookUnavailable
    case yahooNoAccount
    case postfixUserUnknown
    case spamhausBlock
    // Momentum expiry `bounce` after 3.5 days of delays.
    case timeoutLastTransfail
    case timeoutMaxTime
    // `out_of_band`, after `delivery`.
    case oobUserUnknown
    case oobMailboxFull
    // `policy_rejection` / `generation_rejection`.
    case suppressedByPolicy
    // `bounce` class 60 after `delivery`.
    case autoReplyEnglish
    case autoReplyFrench
    /// No response (injection, delivery, engagement…).
    case none

    /// SparkPost bounce class (reference/mta.md §2); `nil` when the event carries none.
    var bounceClass: Int? {
        switch self {
        case .greylisting: 20
        case .yahooDeferral: 50
        case .overQuota: 22
        case .noMX: 21
        case .connectionTimedOut: 70
        case .gmailNoSuchUser, .outlookUnavailable, .yahooNoAccount, .postfixUserUnknown: 10
        case .spamhausBlock: 51
        case .timeoutLastTransfail: 22
        case .timeoutMaxTime: 24
        case .oobUserUnknown: 10
        case .oobMailboxFull: 22
        case .suppressedByPolicy: 25
        case .autoReplyEnglish, .autoReplyFrench: 60
        case .none: nil
        }
    }

    /// The SMTP basic reply code (SparkPost `error_code`), if the text has one.
    var smtpCode: Int? {
        switch self {
        case .greylisting: 451
        case .yahooDeferral: 421
        case .overQuota: 452
        case .noMX: 454
        case .connectionTimedOut: 450
        case .gmailNoSuchUser, .outlookUnavailable, .postfixUserUnknown, .oobUserUnknown: 550
        case .yahooNoAccount, .spamhausBlock, .timeoutLastTransfail, .timeoutMaxTime, .suppressedByPolicy: 554
        case .oobMailboxFull: 552
        case .autoReplyEnglish, .autoReplyFrench, .none: nil
        }
    }

    /// The RFC 3463 enhanced status code in the text, if any.
    var enhancedStatus: StaticString? {
        switch self {
        case .greylisting: "4.7.1"
        case .yahooDeferral: "4.7.0"
        case .overQuota: "4.2.2"
        case .noMX: "4.4.4"
        case .connectionTimedOut: "4.4.1"
        case .gmailNoSuchUser, .postfixUserUnknown, .oobUserUnknown: "5.1.1"
        case .outlookUnavailable: "5.5.0"
        case .spamhausBlock, .suppressedByPolicy: "5.7.1"
        case .timeoutLastTransfail, .timeoutMaxTime: "5.4.7"
        case .oobMailboxFull: "5.2.2"
        case .yahooNoAccount, .autoReplyEnglish, .autoReplyFrench, .none: nil
        }
    }

    /// Failure type and reason tokens (domain.md §5.2, from the bounce class; class-less policy
    /// rejections are qualified like class 25), or `nil` for non-failures.
    var qualification: (type: StaticString, reason: StaticString)? {
        switch self {
        case .greylisting, .connectionTimedOut, .timeoutMaxTime: ("soft", "unreachable")
        case .yahooDeferral, .spamhausBlock: ("soft", "refused")
        case .overQuota, .timeoutLastTransfail, .oobMailboxFull: ("soft", "mailboxFull")
        case .noMX: ("soft", "invalidDomain")
        case .gmailNoSuchUser, .outlookUnavailable, .yahooNoAccount, .postfixUserUnknown, .oobUserUnknown:
            ("hard", "userUnknown")
        case .suppressedByPolicy: ("hard", "addressInQuarantine")
        case .autoReplyEnglish, .autoReplyFrench, .none: nil
        }
    }

    /// What a response text needs besides constants.
    struct Context {
        /// The lower-case recipient address (only JSON-safe characters).
        var address: [UInt8]
        /// The routing domain (only JSON-safe characters).
        var domain: String
        /// Our sending IP.
        var sendingIP: String
        /// Per-event randomness for ids inside texts.
        var token: UInt64
    }

    /// Writes the response text, escaped for a JSON string (no quotes).
    ///
    /// - Parameter masked: `true` for SparkPost's canonicalised `reason`, `false` for
    ///   `raw_reason` / canonical `response`.
    func write(into w: inout JSONWriter, masked: Bool, context c: Context) {
        func ip(_ w: inout JSONWriter) {
            if masked { w.raw("a.b.c.d") } else { w.escaped(c.sendingIP) }
        }
        func address(_ w: inout JSONWriter) {
            if masked { w.raw("...@...") } else { w.raw(c.address) }
        }
        switch self {
        case .greylisting:
            w.raw("451 4.7.1 Greylisting in action, please come back later")
        case .yahooDeferral:
            w.raw("421 4.7.0 [TSS04] Messages from ")
            ip(&w)
            w.raw(" temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes")
        case .overQuota:
            w.raw("452 4.2.2 The email account that you tried to reach is over quota")
        case .noMX:
            w.raw("454 4.4.4 [internal] no MX or A for domain")
        case .connectionTimedOut:
            w.raw("450 4.4.1 [internal] Connection Timed Out")
        case .gmailNoSuchUser:
            w.raw("550-5.1.1 The email account that you tried to reach does not exist. Please try\\r\\n550-5.1.1 double-checking the recipient's email address for typos or\\r\\n550-5.1.1 unnecessary spaces. Learn more at\\r\\n550 5.1.1  https://support.google.com/mail/?p=NoSuch")
            if masked {
                w.raw("... - gsmtp")
            } else {
                w.raw("User ")
                Reply.gmailQueueId(c.token, into: &w)
                w.raw(" - gsmtp")
            }
        case .outlookUnavailable:
            w.raw("550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). [AM4PEPF00027A5F.eurprd04.prod.outlook.com]")
        case .yahooNoAccount:
            w.raw("554 delivery error: dd This user doesn't have a ")
            w.escaped(c.domain)
            w.raw(" account (")
            address(&w)
            w.raw(") [0] - mta")
            w.unsigned(1000 + c.token % 9000)
            w.raw(".mail.gq1.yahoo.com")
        case .postfixUserUnknown:
            w.raw("550 5.1.1 <")
            address(&w)
            w.raw(">: Recipient address rejected: User unknown in virtual mailbox table")
        case .spamhausBlock:
            w.raw("554 5.7.1 Service unavailable; Client host [")
            ip(&w)
            w.raw("] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/")
            ip(&w)
        case .timeoutLastTransfail:
            w.raw("554 5.4.7 [internal] message timeout (last transfail: 452 4.2.2 The email account that you tried to reach is over quota)")
        case .timeoutMaxTime:
            w.raw("554 5.4.7 [internal] exceeded max time without delivery")
        case .oobUserUnknown:
            w.raw("550 5.1.1 <")
            address(&w)
            w.raw(">: Recipient address rejected: User unknown in local recipient table")
        case .oobMailboxFull:
            w.raw("552 5.2.2 <")
            address(&w)
            w.raw(">: mailbox full (quota exceeded)")
        case .suppressedByPolicy:
            w.raw("554 5.7.1 recipient address suppressed due to customer policy")
        case .autoReplyEnglish:
            w.raw("Automatic reply: I am out of the office until Monday 9 November with limited access to email.")
        case .autoReplyFrench:
            w.escaped("R\u{e9}ponse automatique : absent(e) jusqu'au 9 novembre \u{2014} \"urgent\" : contactez l'accueil")
        case .none:
            break
        }
    }

    /// A Gmail-style queue id, e.g. `h7si13242232pgc.400`.
    private static func gmailQueueId(_ token: UInt64, into w: inout JSONWriter) {
        var t = SplitMix64.mix(token)
        let letters: [UInt8] = Array("abcdefghijklmnopqrstuvwxyz".utf8)
        w.byte(letters[Int(t % 26)]); t /= 26
        w.byte(UInt8(48 + t % 10)); t /= 10
        w.raw("si")
        w.padded(Int64(t % 100_000_000), width: 8); t /= 100_000_000
        for _ in 0..<3 { w.byte(letters[Int(t % 26)]); t /= 26 }
        w.byte(UInt8(ascii: "."))
        w.unsigned(100 + t % 900)
    }
}
