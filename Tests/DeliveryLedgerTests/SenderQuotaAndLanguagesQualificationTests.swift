import DeliveryLedger
import Testing

/// Qualification cases found by a tester writing real-world bounces from providers' documentation
/// (2026-12-05, rule table `rules-2026.12-11`: 249 of 285 right, 17 ambiguous), each decided by a
/// general rule, not by one file's strings. The texts were written for these tests; each expected
/// value is worked out from the rule cited.
@Suite("Sender names with dots, sending quotas, the sending MTA's own words, more languages (qualification)")
struct SenderQuotaAndLanguagesQualificationTests {
    let q = TextQualifier.builtIn

    /// The sender's own failures are soft Refused, the sender's, never the recipient's:
    /// - a rejection of the sender that names the sender's domain or address (dots inside), never
    ///   User unknown (domain.md §5.3) — one refused return path would otherwise quarantine every
    ///   recipient of a delivery;
    /// - a sending or submission quota, the sender's volume (Gmail's "5.4.5 Daily user sending quota
    ///   exceeded", Exchange Online's SubmissionQuotaExceededException): a rate limit, not the
    ///   recipient's full mailbox, although the word is "quota".
    @Test(arguments: [
        "550 5.7.1 Sender domain sender.example does not exist",
        "553 5.1.8 Sender domain <mail.sender.example> does not exist",
        "550 5.7.1 Sender address bounces@mail.sender.example rejected: not authorized",
        "550 Sender address is not valid for your login. Check your email program settings.",
        "550 5.4.5 Daily user sending quota exceeded. a12sm1234567wrt.44 - gsmtp",
        "554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process message",
        "421 4.7.0 Hourly sending quota reached for this account",
    ])
    func theSendersOwnFailures(_ text: String) {
        q.expectRefusedBySender(text)
    }

    /// An unknown recipient said in other words or languages is User unknown, hard, under a 5xx
    /// reply (RFC 5321 §4.2.3 550; Exim's "Unknown local part"; Russian, Polish, Dutch, Chinese,
    /// Czech) — also under a generic 5.0.0; a full mailbox in Dutch, Chinese, Russian or Polish is
    /// Mailbox full, soft (domain.md §5.3); the unknown-user words under a 4xx reply are a transient
    /// failure (RFC 5321 §4.2.1), never hard.
    @Test(arguments: [
        ("550 Unknown local part bea in <bea@example.org>", Qualification(.hard, .userUnknown)),
        ("550 Recipient Rejected: No account by that name here", Qualification(.hard, .userUnknown)),
        ("550 Пользователь не найден", Qualification(.hard, .userUnknown)),
        ("550 5.0.0 Пользователь не найден", Qualification(.hard, .userUnknown)),
        ("550 Нет такого пользователя", Qualification(.hard, .userUnknown)),
        ("550 Nie ma takiego użytkownika", Qualification(.hard, .userUnknown)),
        ("550 Użytkownik nie istnieje", Qualification(.hard, .userUnknown)),
        ("550 Onbekende gebruiker", Qualification(.hard, .userUnknown)),
        ("550 Het e-mailadres bestaat niet", Qualification(.hard, .userUnknown)),
        ("550 用户不存在", Qualification(.hard, .userUnknown)),
        ("550 收件人不存在", Qualification(.hard, .userUnknown)),
        ("550 Uživatel neexistuje", Qualification(.hard, .userUnknown)),
        ("450 Пользователь не найден", Qualification(.soft, .userUnknown)),
        ("550 Mailbox vol", Qualification(.soft, .mailboxFull)),
        ("552 邮箱空间不足", Qualification(.soft, .mailboxFull)),
        ("452 Ящик переполнен", Qualification(.soft, .mailboxFull)),
        ("552 Skrzynka odbiorcza jest pełna", Qualification(.soft, .mailboxFull)),
    ])
    func otherWordsAndLanguages(_ text: String, _ expected: Qualification) {
        let r = q.qualify(text: text)
        #expect(r.qualification == expected, "\(text): \(r.rule)")
    }

    /// "vol" is a word of its own: an English "mailbox volume" is no full mailbox.
    @Test func volumeIsNotVol() {
        #expect(q.qualify(text: "550 mailbox volume offline").qualification.reason != .mailboxFull)
    }

    /// What the sending MTA writes itself, with no reply code: Exim's MX records pointing to hosts
    /// that do not exist → Invalid domain; Sendmail's "host name lookup failure" (a temporary DNS
    /// failure, EX_TEMPFAIL) and a connection the remote host closed → Unreachable; qmail's "in the
    /// queue too long" → the validity period ran out (RFC 3463 X.4.7 in words) → Unreachable.
    @Test(arguments: [
        ("all relevant MX records point to non-existent hosts", FailureReason.invalidDomain),
        ("Name server: example.org.: host name lookup failure", .unreachable),
        ("Remote host closed connection during session", .unreachable),
        ("I'm not going to try again; this message has been in the queue too long.", .unreachable),
    ])
    func theSendingMTAsOwnWords(_ text: String, _ reason: FailureReason) {
        let r = q.qualify(text: text)
        #expect(r.qualification == Qualification(.soft, reason), "\(text): \(r.rule)")
    }
}
