import DeliveryLedger
import LedgerTestSupport
import Testing

/// Address normalisation (``Address``): two spellings of one mailbox are one recipient, a malformed
/// address is refused with the rule it breaks — never kept as a recipient of its own.
@Suite("Address syntax")
struct AddressSyntaxTests {
    /// Spellings of one mailbox and the one address each becomes: one balanced pair of angle
    /// brackets (RFC 5321 §4.1.2 Path) and the domain's trailing root dot (RFC 1034 §3.1) removed,
    /// the domain lower-cased, the local part kept.
    @Test("Spellings of one mailbox normalise to one address", arguments: [
        ("ann@example.com", "ann@example.com"),
        ("<ann@example.com>", "ann@example.com"),
        ("  < ann@example.com >\t", "ann@example.com"),
        ("ann@example.com.", "ann@example.com"),
        ("<ann@EXAMPLE.com.>", "ann@example.com"),
        ("Ann@example.com.", "Ann@example.com"),
        ("zoë@ÉCOLE.fr.", "zoë@école.fr"),
        ("\"a@b\"@example.com", "\"a@b\"@example.com"),
        ("ann@[192.0.2.1]", "ann@[192.0.2.1]"),
        ("ann@[IPv6:2001:DB8::1]", "ann@[ipv6:2001:db8::1]"),
        ("foo.@docomo.ne.jp", "foo.@docomo.ne.jp"),
        // Hyphens inside labels, digits first (RFC 1123 §2.1), an underscore (RFC 2181 §11), a punycode A-label.
        ("ann@mail-1.3com.example", "ann@mail-1.3com.example"),
        ("ann@my_host.example.com", "ann@my_host.example.com"),
        ("ann@xn--cole-9oa.fr", "ann@xn--cole-9oa.fr"),
        // RFC 5321 §4.1.2: a quoted local part may hold spaces (and commas): Postfix logs such addresses.
        ("<\"john, smith\"@Example.org>", "\"john, smith\"@example.org"),
    ])
    func normalises(_ text: String, _ expected: String) throws {
        #expect(try Address.parse(text) == expected)
        #expect(Address.normalize(text) == expected)
    }

    /// Malformed addresses and the rule each breaks.
    @Test("Malformed addresses are refused, naming the problem", arguments: [
        ("<ann@example.com", Address.SyntaxError.unclosedAngleBracket),
        ("ann@example.com>", .unopenedAngleBracket),
        ("<<ann@example.com>>", .angleBracketInside),
        ("ann<x>@example.com", .angleBracketInside),
        ("<>", .empty),
        ("   ", .empty),
        ("ann@example.com..", .emptyDomainLabel),
        ("ann@exa..mple.com", .emptyDomainLabel),
        ("ann@.example.com", .emptyDomainLabel),
        ("ann@.", .emptyDomain),
        ("ann@", .emptyDomain),
        ("@example.com", .emptyLocalPart),
        ("ann.example.com", .missingAt),
        ("a@b@example.com", .atInLocalPart),
        ("ann@exam,ple.com", .invalidDomainCharacter(",")),
        // RFC 5321 §4.1.2: a host name's labels hold letters, digits and hyphens, a hyphen neither first nor last.
        ("a@=cmd.example.com", .invalidDomainCharacter("=")),
        ("c@+x.example.com", .invalidDomainCharacter("+")),
        ("b@2+3.example.com", .invalidDomainCharacter("+")),
        ("b@-2.example.com", .hyphenAtLabelEdge),
        ("b@x.example-.com", .hyphenAtLabelEdge),
        ("b@example.com-", .hyphenAtLabelEdge),
        ("b@exa mple.com", .whiteSpaceOrControl),
        ("ann@[192.0.2.1", .invalidDomainCharacter("[")),
        ("ann @example.com", .whiteSpaceOrControl),
        ("john smith@example.com", .whiteSpaceOrControl),
        ("\"john\tsmith\"@example.com", .whiteSpaceOrControl),
        ("\"john\" smith@example.com", .whiteSpaceOrControl),
    ])
    func refuses(_ text: String, _ problem: Address.SyntaxError) {
        #expect(throws: problem) { try Address.parse(text) }
        #expect(Address.normalize(text) == nil)
    }

    @Test("The error says what is wrong")
    func errorText() {
        #expect(Address.SyntaxError.unclosedAngleBracket.description.hasPrefix("'<' without a closing '>'"))
        #expect(Address.SyntaxError.unopenedAngleBracket.description.hasPrefix("'>' without an opening '<'"))
    }

    @Test("An event's recipient must be the normalised spelling")
    func eventValidation() {
        let f = EventFactory()
        #expect(throws: EventValidationError.self) { try f.relay("ann@example.com.", at: 0).validate() }
        #expect(throws: EventValidationError.self) { try f.relay("<ann@example.com", at: 0).validate() }
        #expect(throws: Never.self) { try f.relay("ann@example.com", at: 0).validate() }
    }

    @Test("The ledger answers for a mailbox whatever its spelling")
    func queriesNormalise() throws {
        let t = try TestLedger()
        let f = EventFactory()
        try t.ledger.append([f.relay("ann@example.com", at: 0)])
        for spelling in ["ann@example.com.", "<ann@EXAMPLE.COM.>", "ann@Example.com"] {
            #expect(try t.ledger.status(delivery: "d1", recipient: spelling)?.recipient == "ann@example.com", "\(spelling)")
            #expect(try t.ledger.deliveries(containing: spelling) == ["d1"], "\(spelling)")
            #expect(try t.ledger.addressStatus(spelling, asOf: nil)?.address == "ann@example.com", "\(spelling)")
        }
        #expect(try t.ledger.status(delivery: "d1", recipient: "<ann@example.com") == nil)
    }
}
