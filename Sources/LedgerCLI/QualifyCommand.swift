import ArgumentParser
import DeliveryLedger
import LedgerReports
import Foundation

struct QualifyCommand: OutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "qualify",
        abstract: "Qualify one SMTP reply or DSN diagnostic: failure type, reason and the rule that decided.",
        discussion: """
            Uses the built-in rule table (or --rules FILE): an ordered table, first match wins \
            (domain.md §5.3). Host-aware rules also look at --remote-host, --reporting-mta and the \
            domain of --recipient and --bounce-category; rules with an SMTP-command condition at the command the reply \
            answered (--smtp-command, else found in the text: "in reply to RCPT TO command", \
            ">>> DATA"…). With --format json prints {"failureType", "failureReason", "rule", \
            "final", "concerns", "enhancedStatus", "replyCode", "smtpCommand", "rules"}.
            """
    )

    @Argument(help: "The reply or diagnostic text, e.g. \"550 5.1.1 <ann@example.com>: User unknown\".") var text: String?
    @Option(help: "Read the text from this file (- for standard input).") var file: String?
    @Option(name: .customLong("status"), help: "An enhanced status code reported apart from the text (a DSN Status: field).")
    var enhancedStatus: String?
    @Option(help: "The remote host that answered (a DSN's Remote-MTA), for host-aware rules; default: the host the text names before an address, as ingest reads it (\"host mx.example.com[192.0.2.1] said:\").") var remoteHost: String?
    @Option(name: .customLong("reporting-mta"), help: "The MTA that reported the failure (a DSN's Reporting-MTA), for host-aware rules.")
    var reportingMTA: String?
    @Option(help: "The recipient's address (its domain is matched by host-aware rules).") var recipient: String?
    @Option(name: .customLong("bounce-category"),
            help: "The reporting MTA's own bounce category (PowerMTA X-PowerMTA-BounceCategory, e.g. bad-mailbox), for host-aware rules.")
    var bounceCategory: String?
    @Option(name: .customLong("smtp-command"),
            help: "The SMTP command the reply answered (CONNECT, EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA); default: found in the text.")
    var smtpCommand: String?
    @Option(name: .customLong("return-path"),
            help: "The returned message's envelope sender (its Return-Path): a text that names it and not the recipient, with no command, is a reply to MAIL, the sender's failure (as the DSN reader decides).")
    var returnPath: String?
    @Option(help: ArgumentHelp("A qualification rule table to use instead of the built-in one (default: $LEDGER_RULES, else the built-in table).", valueName: "file")) var rules: String?
    @Option(help: "Output format: table or json.") var format: String = "table"
    @Flag(name: .customLong("print-rules"),
          help: "Print the rule table (the built-in one, or --rules FILE after checking it) as JSON and exit: a starting point for a table of your own.")
    var printRules = false

    func validate() throws {
        if printRules {
            guard text == nil && file == nil else { throw ValidationError("--print-rules prints the table: give no TEXT or --file with it") }
            return
        }
        guard (text == nil) != (file == nil) else { throw ValidationError("give the TEXT or --file, one of them") }
        if let text, text.allSatisfy(\.isWhitespace) { throw ValidationError("the TEXT is empty: give the reply or diagnostic text to qualify") }
        guard format == "table" || format == "json" else { throw ValidationError("--format must be table or json") }
        if let s = enhancedStatus, EnhancedStatusCode(s) == nil { throw ValidationError("--status '\(s)' is not an RFC 3463 code like 5.1.1") }
        for (name, value) in [("--remote-host", remoteHost), ("--reporting-mta", reportingMTA)] {
            if let v = value, QualificationContext.normalizedHost(v) == nil { throw ValidationError("\(name) '\(v)' is not a host name like mx.example.com") }
        }
        if let r = recipient { do { _ = try Address.parse(r) } catch { throw ValidationError("--recipient '\(r)' is not an address: \(error)") } }
        if let r = returnPath { do { _ = try Address.parse(r) } catch { throw ValidationError("--return-path '\(r)' is not an address: \(error)") } }
        if let b = bounceCategory, QualificationContext.normalizedCategory(b) == nil {
            throw ValidationError("--bounce-category '\(b)' is not a category like bad-mailbox (letters, digits, hyphens)")
        }
        if let c = smtpCommand, SMTPCommand(rawValue: c.uppercased()) == nil {
            throw ValidationError("--smtp-command '\(c)' is not one of \(SMTPCommand.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    struct JSONResult: Encodable {
        var failureType: String
        var failureReason: String
        var rule: String
        var final: Bool
        var concerns: String
        @Null var enhancedStatus: String?
        @Null var replyCode: Int?
        @Null var smtpCommand: String?
        var rules: String
    }

    func execute(_ out: inout Output) throws {
        let qualifier = try RulesOption.qualifier(given: rules)
        if printRules {
            let data = rules.flatMap { FileManager.default.contents(atPath: $0) } ?? RuleTable.builtInJSON
            var text = String(decoding: data, as: UTF8.self)
            if text.hasSuffix("\n") { text.removeLast() }
            out.line(text)
            return
        }
        let input: String
        if let file {
            let data = file == "-" ? FileHandle.standardInput.readDataToEndOfFile() : FileManager.default.contents(atPath: file)
            guard let data else {
                throw CLIError(FileManager.default.fileExists(atPath: file) ? "\(file): cannot be read" : "\(file): no such file")
            }
            input = String(decoding: data, as: UTF8.self)
        } else {
            input = text ?? ""
        }
        let domain = recipient.flatMap(Address.normalize).flatMap { a in a.lastIndex(of: "@").map { String(a[a.index(after: $0)...]) } }
        // Without --remote-host, the host the text names before an address (`host mx.example.com[192.0.2.1]
        // said:`), as ingest reads it from an event's response (QualificationContext(event:)).
        let fromText = remoteHost == nil ? QualificationContext(recipient: "", response: input, raw: [], source: .dsn).remoteHost : nil
        let context = QualificationContext(remoteHost: remoteHost ?? fromText, reportingMTA: reportingMTA, recipientDomain: domain,
                                           bounceCategory: bounceCategory)
        // With --return-path, the evidence the DSN reader keeps for such a reply (SMTPCommand.implied).
        let evidence = returnPath.map { Array("Status: \(enhancedStatus ?? "")\n\nReturn-Path: <\($0)>".utf8) }
        let implied = evidence.flatMap { SMTPCommand.implied(byReply: input, recipient: recipient ?? "", raw: $0) }
        let givenCommand = smtpCommand.flatMap { SMTPCommand(rawValue: $0.uppercased()) } ?? implied
        let r = qualifier.qualify(text: input, enhancedStatus: enhancedStatus, smtpCommand: givenCommand, context: context)
        if format == "json" {
            out.line(try JSON.encode(JSONResult(failureType: r.qualification.type.rawValue, failureReason: r.qualification.reason.rawValue,
                                                rule: r.rule, final: r.final, concerns: r.concerns.rawValue, enhancedStatus: r.enhancedStatus, replyCode: r.replyCode,
                                                smtpCommand: r.smtpCommand?.rawValue, rules: r.tableVersion), pretty: false))
            return
        }
        var table = TextTable(header: ["", ""], rightAligned: false)
        table.row("Failure type", r.qualification.type.label)
        table.row("Failure reason", "\(r.qualification.reason.label) (Campaign code \(r.qualification.reason.code))")
        table.row("Final", r.final ? "yes (the MTA gives up)" : "no (the MTA retries)")
        // Only a hard or soft failure that concerns the recipient counts (AddressStatus; domain.md §6).
        let counts = r.concerns == .recipient && (r.qualification.type == .hard || r.qualification.type == .soft)
        table.row("Concerns", "\(r.concerns == .recipient ? "the recipient" : r.concerns.label) "
                  + (counts ? "(counts toward the address's quarantine)"
                     : r.concerns == .recipient ? "(a \(r.qualification.type.label) failure never counts toward the address's quarantine)"
                     : "(never counts toward the address's quarantine)"))
        table.row("Enhanced status", r.enhancedStatus ?? "—")
        table.row("Reply code", r.replyCode.map(String.init) ?? "—")
        if let c = r.smtpCommand {
            let how = implied != nil && smtpCommand == nil ? "the text names the envelope sender (--return-path)" : givenCommand == nil ? "read from the text" : "given"
            table.row("SMTP command", "\(c.rawValue) (\(how))")
        }
        let source = qualifier.table.rules.first { $0.id == r.rule }?.source ?? "no rule matched (domain.md §5.3 default)"
        let conditions = [context.remoteHost.map { "remote host \($0)" }, context.reportingMTA.map { "reporting MTA \($0)" },
                          context.recipientDomain.map { "recipient domain \($0)" },
                          context.bounceCategory.map { "bounce category \($0)" }].compactMap { $0 }
        if !conditions.isEmpty { table.row("Context", conditions.joined(separator: ", ")) }
        let decidingRule = qualifier.table.rules.first { $0.id == r.rule }
        let kinds = [decidingRule?.readsContext == true ? "host-aware" : nil,
                     decidingRule?.smtpCommand.map { "at \($0.map(\.rawValue).joined(separator: " or "))" }].compactMap { $0 }
        table.row("Rule", "\(r.rule) (table \(r.tableVersion))\(kinds.isEmpty ? "" : ", " + kinds.joined(separator: ", "))")
        table.row("Source", source)
        for l in table.render(indent: "").dropFirst() { out.line(l) }
    }
}
