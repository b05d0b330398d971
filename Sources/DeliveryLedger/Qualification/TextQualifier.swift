/// What the qualifier decided for one failure text, and why.
public struct TextQualification: Sendable, Hashable {
    /// Failure type and reason.
    public var qualification: Qualification
    /// Whether the MTA gave up (`false`: it will retry).
    public var final: Bool
    /// The id of the rule that decided.
    public var rule: String
    /// The rule table's version.
    public var tableVersion: String
    /// The enhanced status code the decision used (given, or found in the text), if any.
    public var enhancedStatus: String?
    /// The basic reply code the decision used (given, or found in the text), if any.
    public var replyCode: Int?
    /// The SMTP command the failure answered (given, or found in the text by
    /// ``SMTPCommand/find(in:)``), when the decision looked at it: set when a rule with an
    /// ``QualificationRule/smtpCommand`` condition was tried, `nil` otherwise or when unknown.
    public var smtpCommand: SMTPCommand?
    /// Whom the failure concerns (the rule's ``QualificationRule/concerns``; the recipient when the
    /// rule says nothing or no rule matched).
    public var concerns: FailureConcern = .recipient

    /// The value for ``Event/qualifier``: `<table version>#<rule id>`. Events qualified by the text
    /// rules carry it, so that a new table re-qualifies them by re-projection.
    public var qualifierTag: String { "\(tableVersion)#\(rule)" }

    /// Whether an ``Event/qualifier`` value was made by the text rules (`<table version>#<rule id>`).
    public static func isTextTag(_ qualifier: String) -> Bool { qualifier.utf8.contains(UInt8(ascii: "#")) }
}

/// Qualifies SMTP replies, DSN diagnostics and bounce texts with an ordered rule table
/// (domain.md §5.3): first match wins; deterministic (the same input always gives the same answer).
///
/// Before matching, the most specific codes are found: the enhanced status code in the text beats
/// the one given when the given one is generic (`X.0.0`, RFC 3464 §2.3.4 allows a generic
/// `Status:` while the `Diagnostic-Code:` has the remote server's code); the basic reply code is
/// the given one, else the first three-digit code that starts the text or a line of it.
/// When no rule matches: a class-4 code or 4xx reply → Unreachable, soft, retry; anything else →
/// Not defined, final (domain.md §5.3 "unmatched 5xx → Not defined, final; unmatched 4xx →
/// Unreachable, retry"). A temporary failure is never hard (domain.md §5.1): neither a class-4
/// status nor a 4xx reply code (RFC 5321 §4.2.1), even under a class-5 status.
///
/// Host-aware rules (issue #14) also need the failure's ``QualificationContext``; a rule with a
/// host condition never matches a failure whose context lacks that host. Rules with an
/// ``QualificationRule/smtpCommand`` condition need the SMTP command the failure answered: given,
/// else found in the text (``SMTPCommand/find(in:)``) — like the codes, a pure function of the
/// text, so a re-projection finds the same command.
public struct TextQualifier: Sendable {
    /// The table in use.
    public let table: RuleTable
    /// ``RuleTable/digest`` of ``table``, computed once.
    public let tableDigest: String
    private let compiled: [CompiledRule]
    /// Answers already worked out (``QualificationMemo``): never one that read a host.
    private let memo = QualificationMemo()

    struct CompiledRule: @unchecked Sendable {
        // Invariant for @unchecked Sendable: `regex` is built once in init and only read; a Regex
        // value holds immutable compiled program state.
        var rule: QualificationRule
        var status: EnhancedStatusPattern?
        var reply: ReplyCodePattern?
        var regex: Regex<AnyRegexOutput>?
        /// Words one of which every match of `regex` contains (``PatternPrefilter``), if found.
        var prefilter: PatternPrefilter?
    }

    /// Compiles `table`.
    /// - Throws: ``RuleTable/LoadError`` when a pattern does not compile.
    public init(table: RuleTable) throws(RuleTable.LoadError) {
        self.table = table
        var compiled: [CompiledRule] = []
        for (i, rule) in table.rules.enumerated() {
            var regex: Regex<AnyRegexOutput>?
            if let t = rule.text {
                do { regex = try Regex(t).ignoresCase() } catch {
                    throw RuleTable.LoadError(description: "rules[\(i)] (\(rule.id)).text: \(error)")
                }
            }
            compiled.append(CompiledRule(rule: rule, status: rule.enhancedStatus.flatMap(EnhancedStatusPattern.init),
                                         reply: rule.replyCode.flatMap(ReplyCodePattern.init), regex: regex,
                                         prefilter: rule.text.flatMap(PatternPrefilter.init(pattern:))))
        }
        self.compiled = compiled
        self.tableDigest = table.digest
    }

    /// The qualifier with the built-in table.
    public static let builtIn: TextQualifier = {
        do { return try TextQualifier(table: .builtIn) } catch { preconditionFailure("built-in rule table: \(error)") }
    }()

    /// Whether some rule of the table has a condition on the failure's context — a host or a bounce
    /// category (then ``qualify(event:)`` reads the event's ``QualificationContext``; otherwise it
    /// skips that work).
    public var hasHostAwareRules: Bool { compiled.contains { $0.rule.readsContext } }

    /// Qualifies one failure.
    /// - Parameters:
    ///   - text: the response or diagnostic text (may be empty).
    ///   - enhancedStatus: an enhanced status code reported apart from the text (e.g. DSN `Status:`).
    ///   - replyCode: a basic reply code reported apart from the text (e.g. SparkPost `error_code`).
    ///   - smtpCommand: the SMTP command the failure answered, when reported apart from the text;
    ///     `nil`: found in the text (``SMTPCommand/find(in:)``), if it names one.
    ///   - context: remote host, reporting MTA and recipient domain, for host-aware rules; evaluated
    ///     only when a host-aware rule's other conditions match (reading it may scan raw bytes).
    public func qualify(text: String, enhancedStatus: String? = nil, replyCode: Int? = nil, smtpCommand: SMTPCommand? = nil,
                        context: @autoclosure () -> QualificationContext = .none) -> TextQualification {
        qualify(text: text, enhancedStatus: enhancedStatus, replyCode: replyCode, smtpCommand: smtpCommand, lazyContext: context)
    }

    /// ``qualify(text:enhancedStatus:replyCode:context:)`` reading the context only when a
    /// host-aware rule's other conditions have matched (reading it scans the event's raw bytes).
    func qualify(text: String, enhancedStatus: String?, replyCode: Int?, smtpCommand: SMTPCommand? = nil,
                 lazyContext: () -> QualificationContext) -> TextQualification {
        let key = QualificationMemo.Key(text: text, enhancedStatus: enhancedStatus, replyCode: replyCode, smtpCommand: smtpCommand)
        switch memo.entry(key) {
        case .answer(let answer)?:
            return answer
        case .byContext?:
            // A host-aware rule's other conditions match this failure: the answer is remembered per context.
            let context = lazyContext()
            var inContext = key
            inContext.context = context
            if case .answer(let answer)? = memo.entry(inContext) { return answer }
            let answer = match(text: text, enhancedStatus: enhancedStatus, replyCode: replyCode, smtpCommand: smtpCommand,
                               lazyContext: { context })
            memo.remember(inContext, answer)
            return answer
        case nil:
            var read: QualificationContext?
            let answer = match(text: text, enhancedStatus: enhancedStatus, replyCode: replyCode, smtpCommand: smtpCommand,
                               lazyContext: { let c = lazyContext(); read = c; return c })
            if let context = read {
                var inContext = key
                inContext.context = context
                memo.rememberContextMatters(key)
                memo.remember(inContext, answer)
            } else {
                memo.remember(key, answer)
            }
            return answer
        }
    }

    /// The rule table's answer, matched afresh.
    private func match(text: String, enhancedStatus: String?, replyCode: Int?, smtpCommand: SMTPCommand?,
                       lazyContext: () -> QualificationContext) -> TextQualification {
        var known: QualificationContext? = nil
        // The command is looked for only when a rule with a command condition is tried.
        var command: SMTPCommand?? = smtpCommand.map { .some($0) }
        let given = enhancedStatus.flatMap { EnhancedStatusCode($0) }
        let found = Self.enhancedStatus(in: text)
        let status: EnhancedStatusCode? = switch (given, found) {
        case let (g?, f?) where g.subject == 0 && g.detail == 0 && f.statusClass == g.statusClass: f
        case let (g?, _): g
        case let (nil, f): f
        }
        let reply = replyCode ?? Self.replyCode(in: text)
        // Whether the MTA will retry: the status's class, else the reply code's.
        let temporary = status?.isTemporary ?? reply.map { (400..<500).contains($0) } ?? false
        // Whether the failure is transient: also when a 4xx reply comes under a class-5 status (a
        // remote's `450 4.1.1 … User unknown` reported by an MTA that gave up with `Status: 5.0.0`).
        // RFC 5321 §4.2.1: a 4yz reply is a transient negative completion — the same command may
        // succeed later — so it is no verdict on the address: never hard (domain.md §5.1), still
        // final when the status says the MTA gave up (as the DSN reader decides at ingest).
        let transient = temporary || reply.map { (400..<500).contains($0) } ?? false
        // The rules' patterns read the text's first ``scannedLength`` bytes (see there).
        let text = Self.scanned(text)
        // The text's lowercase bytes for the rules' prefilters, made at the first rule that has one.
        var lowered: [UInt8]?? = nil
        for c in compiled {
            if let p = c.status { guard let s = status, p.matches(s) else { continue } }
            if let p = c.reply { guard let r = reply, p.matches(r) else { continue } }
            if let commands = c.rule.smtpCommand {
                if command == nil { command = .some(SMTPCommand.find(in: text)) }
                guard let answered = command ?? nil, commands.contains(answered) else { continue }
            }
            if let regex = c.regex {
                if let filter = c.prefilter {
                    if lowered == nil { lowered = .some(PatternPrefilter.lowercasedASCII(text)) }
                    if let bytes = lowered ?? nil, !filter.mayMatch(bytes) { continue }
                }
                guard (try? regex.firstMatch(in: text)) != nil else { continue }
            }
            if c.rule.readsContext {
                if known == nil { known = lazyContext() }
                guard let context = known, Self.hostsMatch(c.rule, context) else { continue }
            }
            var q = Qualification(c.rule.failureType, c.rule.failureReason)
            let final = c.rule.final ?? !temporary
            if !final || transient { q = q.temporary }
            return TextQualification(qualification: q, final: final, rule: c.rule.id, tableVersion: table.version,
                                     enhancedStatus: status?.description, replyCode: reply, smtpCommand: command ?? nil,
                                     concerns: c.rule.concerns ?? .recipient)
        }
        let q = temporary ? Qualification(.soft, .unreachable) : Qualification(.notDefined, .notDefined)
        return TextQualification(qualification: q, final: !temporary, rule: temporary ? "unmatched-temporary" : "unmatched",
                                 tableVersion: table.version, enhancedStatus: status?.description, replyCode: reply,
                                 smtpCommand: command ?? nil)
    }

    /// How much of a failure's text the rules' patterns read: its first 4,096 bytes (UTF-8, cut at a
    /// character boundary). An SMTP reply line is at most 512 octets (RFC 5321 §4.5.3.1.5), so this is
    /// eight full lines — more than any verdict an MTA states — while a regular expression's cost
    /// grows with the text: a 20,000-character response cost ~40 ms a rule table, and a feed of
    /// such bounces made `reproject` 80 times slower (found by a tester). The event keeps its whole
    /// text; the codes (enhanced status, reply code) are read from the whole text too.
    public static let scannedLength = 4096

    /// `text`, or its first ``scannedLength`` bytes.
    static func scanned(_ text: String) -> String {
        guard text.utf8.count > scannedLength else { return text }
        var end = text.utf8.index(text.utf8.startIndex, offsetBy: scannedLength)
        while end > text.startIndex, text.utf8[end] & 0xC0 == 0x80 { end = text.utf8.index(before: end) }  // not inside a UTF-8 sequence
        return String(text[..<end])
    }

    /// Whether every context condition of `rule` holds in `context` (a host: a name, or a subdomain
    /// of one; a bounce category: one of the names, without case).
    private static func hostsMatch(_ rule: QualificationRule, _ context: QualificationContext) -> Bool {
        func holds(_ names: [String]?, _ host: String?) -> Bool {
            guard let names else { return true }
            guard let host else { return false }
            return names.contains { QualificationContext.host(host, isIn: $0) }
        }
        let category = rule.bounceCategory.map { names in
            context.bounceCategory.map { c in names.contains { $0.lowercased() == c } } ?? false
        } ?? true
        return holds(rule.remoteHost, context.remoteHost) && holds(rule.reportingMTA, context.reportingMTA)
            && holds(rule.recipientDomain, context.recipientDomain) && category
    }

    /// Qualifies a failure event from its observed fields: its response text, codes and
    /// ``QualificationContext/init(event:)`` (read only when a host-aware rule's other conditions match);
    /// for an event read from a bounce message (``SourceFormat/dsn``), the SMTP command
    /// ``SMTPCommand/implied(byReply:recipient:raw:)`` (a reply naming the envelope sender is a
    /// reply to `MAIL`), as the DSN reader qualified it at ingest.
    public func qualify(event e: Event) -> TextQualification {
        qualify(text: e.response ?? "", enhancedStatus: e.enhancedStatus, replyCode: e.smtpCode,
                smtpCommand: e.source == .dsn ? SMTPCommand.implied(byReply: e.response ?? "", recipient: e.recipient, raw: e.raw) : nil,
                lazyContext: { QualificationContext(event: e) })
    }

    /// Whom a failure event concerns, as the projection sees it: for a failure qualified by the
    /// text rules (its ``Event/qualifier`` is a ``TextQualification/qualifierTag``), the deciding
    /// rule's ``QualificationRule/concerns``; for a failure qualified by its bounce class, the
    /// class's (``BounceClassTable/concerns(of:)``: the block classes 50–54 concern the sender or the
    /// content), else the text rules' answer on its response — the class gives type and reason
    /// (domain.md §5.2), the text may still say whom it is about (SparkPost's own `451 4.3.0
    /// [internal] Sending IP temporarily suspended` comes with class 70); for any other failure (a
    /// source's own qualification) the recipient. `nil` for an event that is not a failure.
    public func concerns(of e: Event) -> FailureConcern? {
        guard e.kind == .bounce || e.kind == .retry || e.kind == .timeout else { return nil }
        guard let tag = e.qualifier, TextQualification.isTextTag(tag) else {
            guard let c = e.bounceClass else { return .recipient }
            if let concern = BounceClassTable.concerns(of: c) { return concern }
            guard let text = e.response, !text.isEmpty else { return .recipient }
            return qualify(event: e).concerns
        }
        return qualify(event: e).concerns
    }

    /// Whether a bounce class's failure gives way to the text rules: SparkPost class 25 "Admin
    /// Failure" covers the platform's suppression list *and* its other policies (SparkPost,
    /// "Bounce Classification Codes"), so when the text rules say the failure concerns the sender,
    /// the content or the session (e.g. `550 5.7.1 Unconfigured Sending Domain`), that
    /// qualification wins over the class's hard "Address in quarantine" (issue #14).
    /// - Returns: the text qualification to use instead of the class's, or `nil` to keep the class.
    public func overridingBounceClass(_ bounceClass: Int, text: String?, enhancedStatus: String?, replyCode: Int?,
                                      context: @autoclosure () -> QualificationContext = .none) -> TextQualification? {
        guard bounceClass == 25, let text, !text.isEmpty else { return nil }
        let r = qualify(text: text, enhancedStatus: enhancedStatus, replyCode: replyCode, lazyContext: context)
        return r.concerns == .recipient ? nil : r
    }

    /// The first RFC 3463 code in `text` that is not part of a longer number or version string
    /// (e.g. `550-5.1.1`, `#5.1.1`, `(4.2.2)`), preferring a specific code over a generic `X.0.0`,
    /// and a failure (class 4 or 5) over a success (class 2): a session transcript quotes the
    /// replies that succeeded before the one that failed (`<<< 250 2.1.0 Ok` then `<<< 450 4.2.1 …`),
    /// and the failure is what the text reports (RFC 3463 §3.1: class 2 is success). A success code
    /// is the answer only when the text holds no failure code.
    public static func enhancedStatus(in text: String) -> EnhancedStatusCode? {
        let bytes = Array(text.utf8)
        var generic: EnhancedStatusCode?
        var success: EnhancedStatusCode?
        var i = 0
        while i < bytes.count {
            let c = bytes[i]
            if (c == 0x32 || c == 0x34 || c == 0x35), i + 4 < bytes.count, bytes[i + 1] == 0x2E,
               i == 0 || !(isDigit(bytes[i - 1]) || bytes[i - 1] == 0x2E) {
                var j = i + 2
                var subjectDigits = 0
                while j < bytes.count, isDigit(bytes[j]), subjectDigits < 4 { j += 1; subjectDigits += 1 }
                if subjectDigits >= 1 && subjectDigits <= 3 && j < bytes.count && bytes[j] == 0x2E {
                    var k = j + 1
                    var detailDigits = 0
                    while k < bytes.count, isDigit(bytes[k]), detailDigits < 4 { k += 1; detailDigits += 1 }
                    let followedOK = k >= bytes.count || !(isDigit(bytes[k]) || (bytes[k] == 0x2E && k + 1 < bytes.count && isDigit(bytes[k + 1])))
                    if detailDigits >= 1 && detailDigits <= 3 && followedOK,
                       let code = EnhancedStatusCode(String(decoding: bytes[i..<k], as: UTF8.self)) {
                        if c == 0x32 {
                            if success == nil { success = code }
                        } else if code.subject == 0 && code.detail == 0 {
                            if generic == nil { generic = code }
                        } else {
                            return code
                        }
                    }
                }
            }
            i += 1
        }
        return generic ?? success
    }

    /// The basic reply code at the start of `text` or of one of its lines (`550 `, `550-`), or
    /// after "said:" / "smtp;" as Postfix and DSNs write it: the first failure (4yz, 5yz), else the
    /// first success (2yz) — a transcript quotes the positive completions before the reply that
    /// failed (RFC 5321 §4.2.1), as ``enhancedStatus(in:)``.
    public static func replyCode(in text: String) -> Int? {
        let bytes = Array(text.utf8)
        var success: Int?
        var i = 0
        while i + 2 < bytes.count {
            let atStart = i == 0 || bytes[i - 1] == 0x0A || bytes[i - 1] == 0x20 || bytes[i - 1] == 0x3A || bytes[i - 1] == 0x3B
            if atStart, (bytes[i] == 0x32 || bytes[i] == 0x34 || bytes[i] == 0x35), isDigit(bytes[i + 1]), isDigit(bytes[i + 2]),
               i + 3 == bytes.count || bytes[i + 3] == 0x20 || bytes[i + 3] == 0x2D || bytes[i + 3] == 0x0D || bytes[i + 3] == 0x0A {
                let code = Int(bytes[i] - 0x30) * 100 + Int(bytes[i + 1] - 0x30) * 10 + Int(bytes[i + 2] - 0x30)
                if code >= 400 { return code }
                if success == nil { success = code }
            }
            i += 1
        }
        return success
    }

    private static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
}
