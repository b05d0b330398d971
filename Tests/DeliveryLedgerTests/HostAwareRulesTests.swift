import DeliveryLedger
import Foundation
import LedgerTestSupport
import Testing

/// Host-aware rules, whom a failure concerns, and the wordings of issue #14 — each expectation
/// worked out from the rule's source (RFC 3463, RFC 5321, the vendor's published text), not from
/// the program's output.
@Suite struct HostAwareRulesTests {
    let q = TextQualifier.builtIn

    // MARK: The wordings of issue #14 (each was Not defined, or hard, before)

    @Test("'550 No user found' (no enhanced code) is User unknown, hard: RFC 5321 §4.2.3 550 mailbox unavailable")
    func noUserFound() {
        let r = q.qualify(text: "550 No user found")
        #expect(r.qualification == Qualification(.hard, .userUnknown))
        #expect(r.concerns == .recipient)
    }

    @Test("Orange's 'Mail rejete … ofr_506' refuses the sender's traffic: Refused, soft, concerns the sender")
    func orangeOFR() {
        let r = q.qualify(text: "550 5.2.0 Mail rejete. Mail rejected. ofr_506")
        #expect(r.qualification == Qualification(.soft, .refused))
        #expect(r.concerns == .sender)
        #expect(r.rule == "orange-ofr-code")
    }

    @Test("'Unconfigured Sending Domain' is the sender's failure (SparkPost sending domains)")
    func unconfiguredSendingDomain() {
        let r = q.qualify(text: "550 5.7.1 Unconfigured Sending Domain <bounces.example.net>")
        #expect(r.qualification == Qualification(.soft, .refused))
        #expect(r.concerns == .sender)
    }

    @Test("SparkPost class 25 gives way to a sender-side text, and stays hard for its suppression list")
    func classTwentyFive() throws {
        let sender = try #require(q.overridingBounceClass(25, text: "550 5.7.1 Unconfigured Sending Domain <bounces.example.net>",
                                                          enhancedStatus: "5.7.1", replyCode: 550))
        #expect(sender.qualification == Qualification(.soft, .refused) && sender.concerns == .sender)
        let blocklisted = try #require(q.overridingBounceClass(25, text: "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
                                                               enhancedStatus: "5.7.1", replyCode: 554))
        #expect(blocklisted.concerns == .sender)
        // The platform's suppression list: a text about the recipient keeps the class.
        #expect(q.overridingBounceClass(25, text: "550 5.0.0 Message generation rejected: recipient address suppressed",
                                        enhancedStatus: nil, replyCode: 550) == nil)
        #expect(q.overridingBounceClass(10, text: "550 5.7.1 Unconfigured Sending Domain", enhancedStatus: nil, replyCode: 550) == nil)
    }

    @Test("a text that contradicts its code: Facebook RCP-P2 'Refused due to recipient preferences' with 5.1.1 is Refused, soft")
    func recipientPreferences() {
        let r = q.qualify(text: "550 5.1.1 RCP-P2 http://postmaster.facebook.com/response_codes?ip=192.0.2.1#rcp Refused due to recipient preferences")
        #expect(r.qualification == Qualification(.soft, .refused))
    }

    @Test("an X.7.x policy code with a 'User unknown' text is a policy refusal (RFC 3463 §3.8)")
    func policyCodeUserUnknown() {
        #expect(q.qualify(text: "550 5.7.1 550 User Unknown: ann@example.org").qualification == Qualification(.soft, .refused))
    }

    @Test("RFC 5321 syntax errors and QQ Mail's 'Ip frequency limited' are the session's failures")
    func sessionFailures() {
        let syntax = q.qualify(text: "kijitora@example.com <neko@example.net>: malformed address: <neko@example.net> may not follow kijitora@example.com")
        #expect(syntax.qualification == Qualification(.soft, .refused) && syntax.concerns == .session)
        let tencent = q.qualify(text: "550 Ip frequency limited [Blocked IP 192.0.2.22]")
        #expect(tencent.qualification.reason == .unreachable && tencent.concerns == .session)
    }

    @Test("Exchange Online's banned sending IP is the sender's; Gmail's RFC 5322 refusal is the content's")
    func vendorSenderAndContentTexts() {
        let banned = q.qualify(text: "550 5.7.606 Access denied, banned sending IP [192.0.2.1]. To request removal from this list please visit https://sender.office.com/")
        #expect(banned.qualification == Qualification(.soft, .refused) && banned.concerns == .sender)
        let form = q.qualify(text: "550-5.7.1 [192.0.2.1] Our system has detected that this message is not RFC 5322 compliant.")
        #expect(form.qualification == Qualification(.soft, .refused) && form.concerns == .content)
    }

    @Test("sender, content and session rules say whom they concern; address rules the recipient")
    func concernsOfTheGenericRules() {
        #expect(q.qualify(text: "553 5.1.7 sender address rejected").concerns == .sender)
        #expect(q.qualify(text: "554 5.7.1 rejected: listed at zen.spamhaus.org").concerns == .sender)
        #expect(q.qualify(text: "552 5.3.4 message size exceeds fixed maximum message size").concerns == .content)
        #expect(q.qualify(text: "554 5.7.1 message rejected as spam").concerns == .content)
        #expect(q.qualify(text: "550 5.1.1 <ann@example.com>: user unknown").concerns == .recipient)
        #expect(q.qualify(text: "552 5.2.2 mailbox full").concerns == .recipient)
    }

    // MARK: Host-aware rules

    @Test("remembered answers (QualificationMemo) never carry one host's answer to another: any order, any repetition")
    func memoNeverCarriesAHostAnswer() throws {
        let shared = try TextQualifier(table: .builtIn)  // its own memo, filled by this test only
        let kddi = QualificationContext(remoteHost: "lsean.ezweb.ne.jp")
        let elsewhere = QualificationContext(remoteHost: "mx.example.net")
        for _ in 0..<3 {
            for (context, expected) in [(QualificationContext.none, Qualification(.hard, .userUnknown)), (kddi, Qualification(.soft, .refused)),
                                        (elsewhere, Qualification(.hard, .userUnknown)), (kddi, Qualification(.soft, .refused))] {
                #expect(shared.qualify(text: "550 : User unknown", context: context).qualification == expected)
            }
        }
        // Texts no host-aware rule looks at: the remembered answer is the fresh one, with its codes.
        for text in ["550 5.1.1 user not found", "452 4.2.2 Mailbox full", "421 Try again later", "554 5.7.1 blocked using zen.spamhaus.org"] {
            for (status, reply) in [(nil, nil), ("5.0.0", 550), ("4.0.0", 421)] as [(String?, Int?)] {
                let first = shared.qualify(text: text, enhancedStatus: status, replyCode: reply)
                let again = shared.qualify(text: text, enhancedStatus: status, replyCode: reply)
                let fresh = try TextQualifier(table: .builtIn).qualify(text: text, enhancedStatus: status, replyCode: reply)
                #expect(first == fresh && again == fresh, "\(text) \(status ?? "-") \(reply ?? 0)")
            }
        }
    }

    @Test("the context is read only when a host-aware rule's other conditions match; such an answer is remembered per context")
    func contextIsReadOnlyWhenARuleNeedsIt() throws {
        let shared = try TextQualifier(table: .builtIn)  // its own memo
        nonisolated(unsafe) var reads = 0
        func context(_ host: String) -> QualificationContext {
            reads += 1
            return QualificationContext(remoteHost: host)
        }
        // No host-aware rule looks at a full mailbox: the context is never built, first time or remembered.
        for _ in 0..<2 {
            #expect(shared.qualify(text: "452 4.2.2 Mailbox full", context: context("lsean.ezweb.ne.jp")).qualification == Qualification(.soft, .mailboxFull))
        }
        #expect(reads == 0)
        // KDDI's filter rule needs the host: read each time (the remembered answers are per host), right each time.
        for (host, expected) in [("lsean.ezweb.ne.jp", Qualification(.soft, .refused)), ("mx.example.net", Qualification(.hard, .userUnknown)),
                                 ("lsean.ezweb.ne.jp", Qualification(.soft, .refused)), ("mx.example.net", Qualification(.hard, .userUnknown))] {
            #expect(shared.qualify(text: "550 : User unknown", context: context(host)).qualification == expected, "\(host)")
        }
        #expect(reads == 4)
    }

    @Test("KDDI au: '550 : User unknown' (no address) from its host is a filter; the generic rule stays User unknown, hard")
    func kddi() {
        let filter = q.qualify(text: "550 : User unknown", context: QualificationContext(remoteHost: "lsean.ezweb.ne.jp."))
        #expect(filter.qualification == Qualification(.soft, .refused) && filter.rule == "kddi-filter-remote")
        let byDomain = q.qualify(text: "550: : User unknown", context: QualificationContext(recipientDomain: "ezweb.ne.jp"))
        #expect(byDomain.qualification == Qualification(.soft, .refused) && byDomain.rule == "kddi-filter-recipient")
        // The same text elsewhere, and KDDI's answer for an unknown address, stay User unknown, hard.
        #expect(q.qualify(text: "550 : User unknown").qualification == Qualification(.hard, .userUnknown))
        #expect(q.qualify(text: "550 <ann@au.com>: User unknown", context: QualificationContext(remoteHost: "mx.au.com")).qualification
                == Qualification(.hard, .userUnknown))
        // A look-alike domain is not a subdomain.
        #expect(q.qualify(text: "550 : User unknown", context: QualificationContext(remoteHost: "notezweb.ne.jp")).qualification
                == Qualification(.hard, .userUnknown))
    }

    @Test("the generic '550 user not found' stays User unknown, hard, whatever the host")
    func genericRuleStays() {
        for host in ["mx.example.com", "lsean.ezweb.ne.jp", "mfsmax.docomo.ne.jp"] {
            #expect(q.qualify(text: "550 5.1.1 user not found", context: QualificationContext(remoteHost: host)).qualification
                    == Qualification(.hard, .userUnknown))
        }
    }

    @Test("NTT docomo: 'Unknown user' to a docomo address is its reception filter")
    func docomo() {
        let r = q.qualify(text: "550 Unknown user ann@docomo.ne.jp", context: QualificationContext(recipientDomain: "docomo.ne.jp"))
        #expect(r.qualification == Qualification(.soft, .refused))
    }

    @Test("the context is read from the event's own fields: Remote-MTA, Reporting-MTA, Postfix relay=, the text")
    func contextFromEvent() {
        let dsn = Event(id: "x", kind: .bounce, delivery: "d", recipient: "Ann@Sub.Example.JP", occurredAt: EventFactory.t0,
                        response: "550 : User unknown", source: .dsn,
                        raw: Array("Reporting-MTA: dns; googlemail.com\n\nFinal-Recipient: rfc822; ann@sub.example.jp\nAction: failed\nRemote-MTA: dns; lsean.ezweb.ne.jp. (27.85.176.228, the server for the domain ezweb.ne.jp.)\n".utf8))
        let c = QualificationContext(event: dsn)
        #expect(c.remoteHost == "lsean.ezweb.ne.jp")
        #expect(c.reportingMTA == "googlemail.com")
        #expect(c.recipientDomain == "sub.example.jp")
        let postfix = Event(id: "p", kind: .bounce, delivery: "d", recipient: "a@b.example", occurredAt: EventFactory.t0, source: .postfix,
                            raw: Array("Oct 10 15:59:30 mail postfix/smtp[1810]: 3D74ADB7400B: to=<a@b.example>, relay=MX1.Example.TO[192.0.2.20]:25, status=bounced".utf8))
        #expect(QualificationContext(event: postfix).remoteHost == "mx1.example.to")
        let text = Event(id: "t", kind: .bounce, delivery: "d", recipient: "a@b.example", occurredAt: EventFactory.t0,
                         response: "host mx.b.example[192.0.2.9] said: 550 5.1.1 unknown", source: .api)
        #expect(QualificationContext(event: text).remoteHost == "mx.b.example")
        let literal = Event(id: "l", kind: .bounce, delivery: "d", recipient: "a@b.example", occurredAt: EventFactory.t0, source: .dsn,
                            raw: Array("Remote-MTA: dns; [203.138.181.240]\n".utf8))
        #expect(QualificationContext(event: literal).remoteHost == nil)
    }

    // MARK: The rule table's schema discipline

    func load(_ rule: String) throws(RuleTable.LoadError) -> RuleTable {
        try RuleTable.load(json: Data("{\"version\":\"t\",\"rules\":[\(rule)]}".utf8), name: "t.json")
    }

    @Test("host conditions are domain names, non-empty, named in the error; a host-only rule is valid")
    func strictness() throws {
        let ok = try load(#"{"id":"h","recipientDomain":["example.jp"],"failureType":"soft","failureReason":"refused","concerns":"sender","source":"s"}"#)
        #expect(ok.rules[0].recipientDomain == ["example.jp"] && ok.rules[0].concerns == .sender)
        for (rule, says) in [
            (#"{"id":"h","remoteHost":[],"failureType":"soft","failureReason":"refused","source":"s"}"#, "rules[0] (h).remoteHost is empty"),
            (#"{"id":"h","reportingMTA":["bad host"],"failureType":"soft","failureReason":"refused","source":"s"}"#, "rules[0] (h).reportingMTA[0] 'bad host' is not a domain name"),
            (#"{"id":"h","recipientDomain":["-x.jp"],"failureType":"soft","failureReason":"refused","source":"s"}"#, "recipientDomain[0] '-x.jp'"),
            (#"{"id":"h","text":"x","concerns":"everyone","failureType":"soft","failureReason":"refused","source":"s"}"#, "concerns"),
        ] {
            #expect(throws: RuleTable.LoadError.self) { try load(rule) }
            do { _ = try load(rule) } catch { #expect(error.description.contains(says), "\(error.description)") }
        }
    }

    @Test("a host condition changes the table's digest, so the projection re-qualifies")
    func digest() throws {
        let a = try load(#"{"id":"h","text":"x","failureType":"soft","failureReason":"refused","source":"s"}"#)
        let b = try load(#"{"id":"h","text":"x","remoteHost":["example.jp"],"failureType":"soft","failureReason":"refused","source":"s"}"#)
        #expect(a.digest != b.digest)
    }

    // MARK: Quarantine

    @Test("a failure that concerns the sender never counts toward the address's quarantine, hard or soft")
    func senderFailuresDoNotCount() {
        var s = AddressState()
        let rules = QuarantineRules()
        for day in 0..<6 {
            let e = Event(id: "s\(day)", kind: .bounce, delivery: "d", recipient: "a@example.com",
                          occurredAt: EventFactory.t0.adding(seconds: Int64(day) * 86_400), qualification: Qualification(.soft, .refused))
            s.apply(e, position: UInt64(day + 1), rules: rules, concerns: .sender)
        }
        let hard = Event(id: "h", kind: .bounce, delivery: "d", recipient: "a@example.com", occurredAt: EventFactory.t0.adding(seconds: 7 * 86_400),
                         qualification: Qualification(.hard, .addressInQuarantine))
        s.apply(hard, position: 7, rules: rules, concerns: .content)
        #expect(s.status == .valid && s.errorCount == 0)
        #expect(s.notCounted.map(\.position) == [1, 2, 3, 4, 5, 6, 7])
        // The same soft failures about the recipient quarantine at five.
        var r = AddressState()
        for day in 0..<5 {
            r.apply(Event(id: "r\(day)", kind: .bounce, delivery: "d", recipient: "a@example.com",
                          occurredAt: EventFactory.t0.adding(seconds: Int64(day) * 86_400), qualification: Qualification(.soft, .refused)),
                    position: UInt64(day + 1), rules: rules)
        }
        #expect(r.status == .quarantine)
    }
}
