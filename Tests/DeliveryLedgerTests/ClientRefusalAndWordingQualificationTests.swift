import DeliveryLedger
import Testing

/// Qualification cases found by a tester writing real-world bounces (2026-12-05, rule table
/// `rules-2026.12-10`), each decided by a general rule, not by a file's strings. The texts were
/// written for these tests; each expected value is worked out from the rule cited.
@Suite("Client refusals, status codes beside provider codes, expiry and localised wordings (qualification)")
struct ClientRefusalAndWordingQualificationTests {
    let q = TextQualifier.builtIn

    /// A refusal of the sending client — its host or IP named, TLS it must start first (RFC 3207
    /// §4), a relay denial (RFC 5321 §3.6.2) — is the sender's: soft Refused, never counted against
    /// the address, whatever 4xx/5xx and X.7 code it carries.
    @Test(arguments: [
        "421 4.7.1 [TS03] All messages from 192.0.2.1 will be permanently deferred; Retrying will NOT succeed. See https://senders.yahooinc.com/smtp-error-codes",
        "554 5.7.1 <unknown[192.0.2.1]>: Client host rejected: Access denied",
        "450 4.7.1 <unknown[192.0.2.1]>: Client host rejected: cannot find your reverse hostname, [192.0.2.1]",
        "451 4.7.1 Please try again later. All messages from 192.0.2.1 will be deferred",
        "554 5.7.1 mx.example.com refused access to 192.0.2.1",
        "530 5.7.0 Must issue a STARTTLS command first",
        "550 5.7.1 Relaying denied",
        "554 5.7.1 <bea@example.org>: Relay access denied",
    ])
    func clientRefusalsConcernTheSender(_ text: String) {
        q.expectRefusedBySender(text)
    }

    /// RFC 3463's address status beside a provider's code decides for the address: Orange's
    /// OFR_416 with 5.1.1 is an unknown recipient, OFR_417 with mailbox-full wording a full
    /// mailbox; a code alone (OFR_506 with 5.2.0) stays the sender's refusal.
    @Test func statusCodesBeatProviderCodes() {
        let unknown = q.qualify(text: "550 5.1.1 <bea@orange.fr>: Recipient address rejected: Adresse d au moins un destinataire invalide. Invalid recipient. OFR_416 [416]")
        #expect(unknown.qualification == Qualification(.hard, .userUnknown))
        #expect(unknown.concerns == .recipient)
        let full = q.qualify(text: "552 5.1.1 Boite du destinataire pleine. Recipient overquota. OFR_417 [417]")
        #expect(full.qualification == Qualification(.soft, .mailboxFull))
        let sender = q.qualify(text: "550 5.2.0 Mail rejete. Mail rejected. ofr_506")
        #expect(sender.rule == "orange-ofr-code")
        #expect(sender.concerns == .sender)
    }

    /// X.2.1 is a mailbox's state (RFC 3463 §3.3) unless the text refuses the sender or the
    /// message: a listing or "will not accept this message" → the sender; spam → the content.
    @Test func disabledStatusWithARefusalIsNotTheMailbox() {
        let aol = q.qualify(text: "521 5.2.1 :  AOL will not accept delivery of this message.")
        #expect(aol.qualification == Qualification(.soft, .refused))
        #expect(aol.concerns == .sender)
        let listed = q.qualify(text: "550 5.2.1 Service unavailable; Client host [192.0.2.1] blocked using bl.spamcop.net")
        #expect(listed.concerns == .sender)
        let spam = q.qualify(text: "550 5.2.1 Message rejected: this message contains spam")
        #expect(spam.qualification == Qualification(.soft, .refused))
        #expect(spam.concerns == .content)
        // Without such wording 5.2.1 stays Account disabled (the mailbox's state).
        #expect(q.qualify(text: "550 5.2.1 The email account that you tried to reach is disabled").qualification == Qualification(.soft, .accountDisabled))
    }

    /// X.1.0 with the recipient address refused: User unknown, hard (the X.1 subject is the
    /// destination address); an archived mailbox: Account disabled, soft.
    @Test func addressRefusalsAndArchivedMailboxes() {
        #expect(q.qualify(text: "550 #5.1.0 Address rejected.").qualification == Qualification(.hard, .userUnknown))
        #expect(q.qualify(text: "550 5.5.0 Boite du destinataire archivee. Archived recipient. LPN007_420").qualification
                == Qualification(.soft, .accountDisabled))
        // The sender's own address refused under 5.1.0 stays the sender's.
        #expect(q.qualify(text: "550 5.1.0 <bounce@example.net> sender rejected").concerns == .sender)
    }

    /// The validity period running out, said in words (RFC 3463 X.4.7 without the code), a mail
    /// loop (X.4.6) and a TLS route failure are Unreachable, soft.
    @Test(arguments: [
        "all hosts for 'example.com' have been failing for a long time (and retry time not reached)",
        "Message could not be delivered for 5 days",
        "Message expired: could not be delivered within 3 days",
        "Delivery time expired",
        "Unable to deliver message after 48 hours; giving up",
        "mail for example.com loops back to myself",
        "mail forwarding loop for bea@example.com",
        "TLS is required, but was not offered by host mx.example.com[192.0.2.5]",
    ])
    func expiryLoopsAndTLSInWordsAreUnreachable(_ text: String) {
        #expect(q.qualify(text: text).qualification == Qualification(.soft, .unreachable), "\(text): \(q.qualify(text: text).rule)")
    }

    /// Greylisting (RFC 6647) is a deferral the MTA retries: Unreachable, soft, not final — not a
    /// rate limit's refusal of the sender.
    @Test(arguments: ["450 4.2.0 <bea@example.com>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.com.html",
                      "451 4.7.1 Greylisting in action, please come back later"])
    func greylistingIsADeferral(_ text: String) {
        let r = q.qualify(text: text)
        #expect(r.qualification == Qualification(.soft, .unreachable), "\(text): \(r.rule)")
        #expect(!r.final)
        #expect(r.concerns == .session)
    }

    /// X.7.28 'Mail flooding detected' (RFC 7372) is the sender's, even with spam wording.
    @Test func mailFloodIsTheSenders() {
        let r = q.qualify(text: "550-5.7.28 Our system has detected an unusual rate of unsolicited mail originating from your IP address. To protect our users from spam, mail sent from your IP address has been blocked.")
        #expect(r.qualification == Qualification(.soft, .refused))
        #expect(r.concerns == .sender)
    }

    /// Monolingual replies in French, German, Spanish, Italian, Portuguese and Japanese.
    @Test(arguments: [
        ("550 Utilisateur inconnu", Qualification(.hard, .userUnknown)),
        ("550 5.1.1 Destinataire inconnu", Qualification(.hard, .userUnknown)),
        ("550 Boîte aux lettres inexistante", Qualification(.hard, .userUnknown)),
        ("550 Benutzer unbekannt", Qualification(.hard, .userUnknown)),
        ("550 Empfänger unbekannt", Qualification(.hard, .userUnknown)),
        ("550 Postfach nicht vorhanden", Qualification(.hard, .userUnknown)),
        ("550 El usuario no existe", Qualification(.hard, .userUnknown)),
        ("550 Usuario desconocido", Qualification(.hard, .userUnknown)),
        ("550 Utente inesistente", Qualification(.hard, .userUnknown)),
        ("550 Usuário desconhecido", Qualification(.hard, .userUnknown)),
        ("550 宛先のメールアドレスは存在しません", Qualification(.hard, .userUnknown)),
        ("552 Buzón lleno", Qualification(.soft, .mailboxFull)),
        ("552 Casella di posta piena", Qualification(.soft, .mailboxFull)),
        ("552 Caixa postal cheia", Qualification(.soft, .mailboxFull)),
        ("552 Boîte de réception pleine", Qualification(.soft, .mailboxFull)),
        ("550 Domaine inexistant", Qualification(.soft, .invalidDomain)),
    ] as [(String, Qualification)])
    func localisedWordings(_ text: String, _ expected: Qualification) {
        #expect(q.qualify(text: text).qualification == expected, "\(text): \(q.qualify(text: text).rule)")
    }

    @Test func aGermanListingIsTheSenders() {
        let r = q.qualify(text: "554 Zustellung abgelehnt: Absender steht auf einer Sperrliste")
        #expect(r.qualification == Qualification(.soft, .refused))
        #expect(r.concerns == .sender)
    }
}

/// A permanent refusal at the greeting or at EHLO, in any words, refuses the sending host: no
/// sender and no recipient has been named yet (RFC 5321 §3.1, §4.1.1.1; rule table
/// `rules-2026.12-11`, `session-refused-reply`). A 4xx greeting stays a transient failure.
@Suite("Refusals before any address (qualification)")
struct SessionRefusalQualificationTests {
    let q = TextQualifier.builtIn

    @Test func aPermanentGreetingRefusalWithoutKeywordsIsTheSenders() {
        let text = "554 mx.example.net"
        let r = q.qualify(text: text, replyCode: 554, smtpCommand: .connect)
        #expect(r.qualification == Qualification(.soft, .refused), "\(r.rule)")
        #expect(r.concerns == .sender)
        #expect(r.rule == "session-refused-reply")
        // Without the stage the same words say nothing: Not defined (domain.md §5.3).
        #expect(q.qualify(text: text, replyCode: 554).qualification == Qualification(.notDefined, .notDefined))
        // At EHLO too (§4.1.1.1: the client's name refused).
        #expect(q.qualify(text: "550 Access denied", replyCode: 550, smtpCommand: .ehlo).concerns == .sender)
    }

    /// Postfix names the stage in its own words ("refused to talk to me", smtp_proto.c); the
    /// command is read from them, as a DSN's text is.
    @Test func postfixGreetingRefusalNamesTheConnection() {
        let text = "host mx.example.net[192.0.2.7] refused to talk to me: 554 mx.example.net ESMTP not accepting messages"
        #expect(SMTPCommand.find(in: text) == .connect)
        let r = q.qualify(text: text, replyCode: 554, smtpCommand: SMTPCommand.find(in: text))
        #expect(r.qualification == Qualification(.soft, .refused), "\(r.rule)")
        #expect(r.concerns == .sender)
    }

    /// A 4xx greeting (421, RFC 5321 §3.8) is transient: Unreachable, not final.
    @Test func aTransientGreetingIsNotARefusal() {
        let r = q.qualify(text: "421 mx.example.net Service not available, closing transmission channel", replyCode: 421, smtpCommand: .connect)
        #expect(r.qualification == Qualification(.soft, .unreachable), "\(r.rule)")
        #expect(r.final == false)
    }

    /// T-Online's refusal of a sending IP (postmaster.t-online.de): the sender's, whatever short
    /// code follows it.
    @Test func tOnlineIPRefusalIsTheSenders() {
        let r = q.qualify(text: "554 IP=192.0.2.1 - A problem occurred. (Ask your postmaster for help or to contact tosa@rx.t-online.de to clarify.) (BL)", replyCode: 554)
        #expect(r.qualification == Qualification(.soft, .refused), "\(r.rule)")
        #expect(r.concerns == .sender)
        #expect(r.rule == "t-online-ip-refused")
    }
}
