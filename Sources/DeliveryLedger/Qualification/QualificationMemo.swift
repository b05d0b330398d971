import Synchronization

/// The answers of one ``TextQualifier`` to the failures it has seen, so that a text is matched
/// against the rule table's regular expressions once, not once per event.
///
/// Feeds repeat a few hundred distinct response texts across millions of failures (a mailbox
/// provider answers every unknown user with the same line), and matching a text against the table
/// costs far more than reading the event (issue #11's profile: about 45 % of the decode). A
/// qualification is a pure function of the text, the given enhanced status code, reply code and SMTP command —
/// and of the ``QualificationContext`` when a host-aware rule's other conditions match (which
/// depends on those four alone): then the memo marks the four as needing the context, and keeps the
/// answers per context (the key with the context in it), so a remembered answer is never taken for
/// another host.
///
/// Bounded: at most ``capacity`` texts (of at most ``longestText`` bytes each); when full it starts
/// again empty. Shared by every copy of the qualifier (it is a reference) and safe from any thread.
final class QualificationMemo: Sendable {
    struct Key: Hashable, Sendable {
        var text: String
        var enhancedStatus: String?
        var replyCode: Int?
        var smtpCommand: SMTPCommand?
        /// The context the answer was matched in; `nil` for an answer that does not depend on one.
        var context: QualificationContext? = nil
    }

    /// What the memo holds for a key.
    enum Entry: Sendable {
        case answer(TextQualification)
        /// The answer depends on the context: look it up with the context in the key.
        case byContext
    }

    /// Texts remembered before the memo starts again.
    static let capacity = 8192
    /// Longer texts are matched each time (a DSN's whole diagnostic can be kilobytes).
    static let longestText = 1024

    private let entries = Mutex<[Key: Entry]>([:])

    func entry(_ key: Key) -> Entry? {
        entries.withLock { $0[key] }
    }

    func remember(_ key: Key, _ answer: TextQualification) {
        store(key, .answer(answer))
    }

    /// Marks a key (without context) whose answer depends on the context.
    func rememberContextMatters(_ key: Key) {
        store(key, .byContext)
    }

    private func store(_ key: Key, _ entry: Entry) {
        guard key.text.utf8.count <= Self.longestText else { return }
        entries.withLock {
            if $0.count >= Self.capacity { $0.removeAll(keepingCapacity: true) }
            $0[key] = entry
        }
    }
}
