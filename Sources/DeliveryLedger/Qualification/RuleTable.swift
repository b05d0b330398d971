import Foundation

/// One rule of the text qualification table (domain.md §5.3). Every condition given must match;
/// a table loaded with ``RuleTable/load(json:name:)`` has at least one condition in each rule
/// (`text`, `enhancedStatus`, `replyCode`, `smtpCommand`, `remoteHost`, `reportingMTA` or
/// `recipientDomain`).
///
/// **SMTP command** (issue #14): `smtpCommand` lists the commands (``SMTPCommand``) the rule
/// applies to; the failure's command is given apart or found in its text (``SMTPCommand/find(in:)``).
/// A rule with this condition does not match a failure whose command is unknown. RFC 5321 §3.3:
/// recipients are refused at `RCPT TO`, the message after `DATA` — the same words mean different
/// things at the two stages.
///
/// **Host-aware rules** (issue #14) add conditions on the failure's ``QualificationContext``: the
/// remote host that answered, the MTA that reported, the recipient's domain. Each is a list of
/// domain names; a host matches a name when it is that name or ends with `.` + the name
/// (`ezweb.ne.jp` matches `lsean.ezweb.ne.jp`), compared without case. A rule with a host
/// condition does not match a failure whose context lacks that host.
///
/// JSON shape: `Schemas/rules.schema.json`.
public struct QualificationRule: Sendable, Hashable, Codable {
    /// Stable identifier, reported with every qualification the rule makes (e.g. `status-5.1.1`).
    public var id: String
    /// Enhanced status code pattern (RFC 3463): `5.1.1`, `X.1.1` (any class), `5.7.*` (any detail),
    /// `X.7.*`. Matched against the code found for the failure.
    public var enhancedStatus: String?
    /// Regular expression, case-insensitive, searched in the response / diagnostic text.
    public var text: String?
    /// Basic reply code pattern (RFC 5321 §4.2): `550`, `5xx`, `4xx`, `55x`.
    public var replyCode: String?
    /// The SMTP commands the failure must have answered (any of them); see ``SMTPCommand``.
    public var smtpCommand: [SMTPCommand]?
    /// The resulting failure type.
    public var failureType: FailureType
    /// The resulting failure reason.
    public var failureReason: FailureReason
    /// Whether the MTA gave up: `true`/`false`, or absent to decide from the codes (a class-4
    /// enhanced code or 4xx reply is not final; anything else is).
    public var final: Bool?
    /// Domain names of the remote host that answered (DSN `Remote-MTA`, Postfix `relay=`, the host
    /// named in the diagnostic text); see ``QualificationContext/remoteHost``.
    public var remoteHost: [String]?
    /// Domain names of the MTA that reported the failure (DSN `Reporting-MTA`).
    public var reportingMTA: [String]?
    /// Domain names of the recipient's domain (the part of the address after `@`).
    public var recipientDomain: [String]?
    /// The reporting MTA's own bounce categories (any of them, compared without case), e.g.
    /// PowerMTA's `bad-mailbox`; see ``QualificationContext/bounceCategory``.
    public var bounceCategory: [String]?
    /// Whom the failure concerns; absent means ``FailureConcern/recipient``. Only failures that
    /// concern the recipient count toward the address's quarantine (domain.md §6, issue #14).
    public var concerns: FailureConcern?
    /// Where the rule comes from (RFC section, Campaign doc, MTA doc, observed corpus).
    public var source: String

    /// Creates a rule.
    public init(id: String, enhancedStatus: String? = nil, text: String? = nil, replyCode: String? = nil,
                smtpCommand: [SMTPCommand]? = nil, failureType: FailureType, failureReason: FailureReason, final: Bool? = nil,
                remoteHost: [String]? = nil, reportingMTA: [String]? = nil, recipientDomain: [String]? = nil,
                bounceCategory: [String]? = nil, concerns: FailureConcern? = nil, source: String) {
        self.id = id
        self.enhancedStatus = enhancedStatus
        self.text = text
        self.replyCode = replyCode
        self.smtpCommand = smtpCommand
        self.failureType = failureType
        self.failureReason = failureReason
        self.final = final
        self.remoteHost = remoteHost
        self.reportingMTA = reportingMTA
        self.recipientDomain = recipientDomain
        self.bounceCategory = bounceCategory
        self.concerns = concerns
        self.source = source
    }

    /// Whether the rule has a condition on the hosts of the failure's context (remote host,
    /// reporting MTA, recipient domain).
    public var isHostAware: Bool { remoteHost != nil || reportingMTA != nil || recipientDomain != nil }

    /// Whether the rule has a condition on the failure's ``QualificationContext``: a host condition
    /// or a ``bounceCategory``.
    public var readsContext: Bool { isHostAware || bounceCategory != nil }
}

/// An ordered, versioned qualification rule table (domain.md §5.3): first match wins.
public struct RuleTable: Sendable, Hashable, Codable {
    /// The table's version, recorded with every qualification and by the projection.
    public var version: String
    /// The rules, in the order they are tried.
    public var rules: [QualificationRule]

    /// Creates a table.
    public init(version: String, rules: [QualificationRule]) {
        self.version = version
        self.rules = rules
    }

    /// Why a rule table cannot be used.
    public struct LoadError: Error, Sendable, CustomStringConvertible {
        /// What is wrong, naming the rule and field when known.
        public var description: String
    }

    /// Reads a table from JSON (`Schemas/rules.schema.json`).
    /// - Throws: ``LoadError`` naming the rule index and field at fault.
    public static func load(json: Data, name: String = "rule table") throws(LoadError) -> RuleTable {
        let table: RuleTable
        do {
            table = try JSONDecoder().decode(RuleTable.self, from: json)
        } catch let DecodingError.dataCorrupted(context) {
            if context.codingPath.contains(where: { $0.stringValue == "smtpCommand" }) {
                throw LoadError(description: "\(name): \(path(context.codingPath)) is not an SMTP command (\(SMTPCommand.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            throw LoadError(description: "\(name): not valid JSON at \(path(context.codingPath)): \(context.debugDescription)")
        } catch let DecodingError.keyNotFound(key, context) {
            throw LoadError(description: "\(name): \(path(context.codingPath + [key])): missing")
        } catch let DecodingError.typeMismatch(_, context) {
            throw LoadError(description: "\(name): \(path(context.codingPath)): \(context.debugDescription)")
        } catch let DecodingError.valueNotFound(_, context) {
            throw LoadError(description: "\(name): \(path(context.codingPath)): missing value")
        } catch {
            throw LoadError(description: "\(name): \(error)")
        }
        // The schema's "additionalProperties": false, which Codable does not enforce.
        let members = (try? JSONSerialization.jsonObject(with: json)) as? [String: Any] ?? [:]
        if let unknown = members.keys.sorted().first(where: { !tableMembers.contains($0) }) {
            throw LoadError(description: "\(name): '\(unknown)' is not a member of a rule table (\(tableMembers.joined(separator: ", ")))")
        }
        guard !table.version.isEmpty else { throw LoadError(description: "\(name): version is empty") }
        let ruleObjects = members["rules"] as? [Any] ?? []
        var ids = Set<String>()
        for (i, rule) in table.rules.enumerated() {
            let place = "\(name): rules[\(i)] (\(rule.id))"
            if let object = ruleObjects[safe: i] as? [String: Any],
               let unknown = object.keys.sorted().first(where: { !ruleMembers.contains($0) }) {
                throw LoadError(description: "\(place).\(unknown) is not a member of a rule (\(ruleMembers.joined(separator: ", ")))")
            }
            guard !rule.id.isEmpty else { throw LoadError(description: "\(name): rules[\(i)].id is empty") }
            guard ids.insert(rule.id).inserted else { throw LoadError(description: "\(name): rules[\(i)].id '\(rule.id)' is used twice") }
            guard !rule.source.isEmpty else { throw LoadError(description: "\(place).source is empty") }
            guard rule.text != nil || rule.enhancedStatus != nil || rule.replyCode != nil || rule.smtpCommand != nil || rule.readsContext else {
                throw LoadError(description: "\(place) has no condition: give at least one of text, enhancedStatus, replyCode, smtpCommand, remoteHost, reportingMTA, recipientDomain, bounceCategory")
            }
            if let categories = rule.bounceCategory {
                guard !categories.isEmpty else { throw LoadError(description: "\(place).bounceCategory is empty: give at least one category") }
                for (j, c) in categories.enumerated() where !Self.isCategory(c.lowercased()) {
                    throw LoadError(description: "\(place).bounceCategory[\(j)] '\(c)' is not a category like bad-mailbox (letters, digits, hyphens)")
                }
            }
            if rule.smtpCommand?.isEmpty == true {
                throw LoadError(description: "\(place).smtpCommand is empty: give at least one of \(SMTPCommand.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            for (field, names) in [("remoteHost", rule.remoteHost), ("reportingMTA", rule.reportingMTA), ("recipientDomain", rule.recipientDomain)] {
                guard let names else { continue }
                guard !names.isEmpty else { throw LoadError(description: "\(place).\(field) is empty: give at least one domain name") }
                for (j, n) in names.enumerated() where !Self.isDomainName(n) {
                    throw LoadError(description: "\(place).\(field)[\(j)] '\(n)' is not a domain name like ezweb.ne.jp (letters, digits, hyphens, dot-separated labels)")
                }
            }
            if rule.text?.isEmpty == true { throw LoadError(description: "\(place).text is empty") }
            if let e = rule.enhancedStatus, EnhancedStatusPattern(e) == nil {
                throw LoadError(description: "\(name): rules[\(i)] (\(rule.id)).enhancedStatus '\(e)' is not a pattern like 5.1.1, X.1.1 or 5.7.*")
            }
            if let r = rule.replyCode, ReplyCodePattern(r) == nil {
                throw LoadError(description: "\(name): rules[\(i)] (\(rule.id)).replyCode '\(r)' is not a pattern like 550, 5xx or 55x")
            }
            if let t = rule.text {
                do { _ = try Regex(t) } catch {
                    throw LoadError(description: "\(name): rules[\(i)] (\(rule.id)).text is not a valid regular expression: \(error)")
                }
            }
            if rule.final == false && rule.failureType == .hard {
                throw LoadError(description: "\(name): rules[\(i)] (\(rule.id)): a temporary failure (final: false) is never hard")
            }
            // A rule that can only match transient failures (a 4.x.x status, a 4xx reply: RFC 3463
            // §3.2, RFC 5321 §4.2.1) would be made soft at every match: say so when it loads.
            if rule.failureType == .hard, rule.enhancedStatus?.hasPrefix("4") == true || rule.replyCode?.hasPrefix("4") == true {
                let field = rule.enhancedStatus?.hasPrefix("4") == true ? "enhancedStatus '\(rule.enhancedStatus!)'" : "replyCode '\(rule.replyCode!)'"
                throw LoadError(description: "\(name): rules[\(i)] (\(rule.id)): hard, but its \(field) matches only temporary failures, which are never hard (domain.md §5.1)")
            }
        }
        return table
    }

    /// Reads a table from a file.
    public static func load(contentsOf path: String) throws(LoadError) -> RuleTable {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LoadError(description: "\(path): cannot be read")
        }
        return try load(json: data, name: path)
    }

    /// The JSON text of the rule table shipped with the ledger, as it is in the package
    /// (`Qualification/Resources/default-rules.json`): a starting point for a table of one's own
    /// (`ledger qualify --print-rules`).
    public static let builtInJSON: Data = {
        guard let url = Bundle.module.url(forResource: "default-rules", withExtension: "json"),
              let data = try? Data(contentsOf: url) else {
            preconditionFailure("the built-in rule table default-rules.json is missing from the DeliveryLedger bundle")
        }
        return data
    }()

    /// The rule table shipped with the ledger (`Qualification/Resources/default-rules.json`).
    public static let builtIn: RuleTable = {
        let data = builtInJSON
        do {
            return try load(json: data, name: "default-rules.json")
        } catch {
            preconditionFailure("the built-in rule table is invalid: \(error)")
        }
    }()

    /// The members a rule table may have (`Schemas/rules.schema.json`).
    private static let tableMembers = ["version", "rules"]
    /// The members a rule may have (`Schemas/rules.schema.json`).
    private static let ruleMembers = ["id", "enhancedStatus", "text", "replyCode", "smtpCommand", "failureType", "failureReason", "final",
                                      "remoteHost", "reportingMTA", "recipientDomain", "bounceCategory", "concerns", "source"]

    /// Whether `name` is a domain name as the schema's pattern: dot-separated labels of ASCII letters,
    /// digits and hyphens, each 1…63 characters, not starting or ending with a hyphen (RFC 1035 §2.3.1).
    static func isDomainName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 253 else { return false }
        // Labels of 1…63 ASCII letters, digits and hyphens, neither first nor last a hyphen.
        return name.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false).allSatisfy { label in
            (1...63).contains(label.count) && label.first != UInt8(ascii: "-") && label.last != UInt8(ascii: "-")
                && label.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || $0 == 0x2D }
        }
    }

    /// Whether `c` is a bounce category token as the schema's pattern: 1…64 ASCII letters, digits and hyphens.
    static func isCategory(_ c: String) -> Bool {
        (1...64).contains(c.utf8.count) && c.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || $0 == 0x2D }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map { k in k.intValue.map { "[\($0)]" } ?? ".\(k.stringValue)" }.joined().trimmingPrefix(".").description
    }
}

/// A compiled enhanced-status pattern: `5.1.1`, `X.1.1`, `5.7.*`, `X.7.*`.
struct EnhancedStatusPattern: Sendable, Hashable {
    var statusClass: Int?
    var subject: Int
    var detail: Int?

    init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        // As the schema: ASCII digits, no sign, no leading zero, at most three digits.
        func isNumber(_ p: Substring) -> Bool {
            (1...3).contains(p.count) && p.allSatisfy { $0.isASCII && $0.isNumber } && (p == "0" || p.first != "0")
        }
        guard parts[0] == "X" || parts[0] == "x" || isNumber(parts[0]), isNumber(parts[1]), parts[2] == "*" || isNumber(parts[2]) else { return nil }
        if parts[0] == "X" || parts[0] == "x" { statusClass = nil } else {
            guard let c = Int(parts[0]), c == 2 || c == 4 || c == 5 else { return nil }
            statusClass = c
        }
        guard let s = Int(parts[1]), (0...999).contains(s) else { return nil }
        subject = s
        if parts[2] == "*" { detail = nil } else {
            guard let d = Int(parts[2]), (0...999).contains(d) else { return nil }
            detail = d
        }
    }

    func matches(_ code: EnhancedStatusCode) -> Bool {
        (statusClass.map { $0 == code.statusClass } ?? true) && subject == code.subject && (detail.map { $0 == code.detail } ?? true)
    }
}

/// A compiled basic reply code pattern: `550`, `5xx`, `55x`.
struct ReplyCodePattern: Sendable, Hashable {
    var digits: [Int?]

    init?(_ text: String) {
        guard text.count == 3 else { return nil }
        var d: [Int?] = []
        for c in text {
            if c == "x" || c == "X" { d.append(nil) } else if c.isASCII, let v = c.wholeNumberValue { d.append(v) } else { return nil }
        }
        guard let first = d[0], (2...5).contains(first) else { return nil }
        digits = d
    }

    func matches(_ code: Int) -> Bool {
        let actual = [code / 100, (code / 10) % 10, code % 10]
        return zip(digits, actual).allSatisfy { pattern, digit in pattern == nil || pattern == digit }
    }
}

extension Array {
    /// The element at `index`, or `nil` when out of range.
    fileprivate subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
