import Foundation
import Testing

/// `ledger status`, `history` and `address` read an address by the rules of ingest (``Address``):
/// another spelling of the mailbox finds it; a malformed one is refused, saying why.
@Suite struct AddressSpellingCLITests {
    func ledger() -> CLI {
        let cli = CLI()
        let r = cli.ingest([
            #"{"id":"r-1","kind":"relay","delivery":"d1","recipient":"ann@example.com.","occurredAt":"2026-11-02T09:00:00Z"}"#,
            #"{"id":"v-1","kind":"delivered","delivery":"d1","recipient":"<ann@Example.com>","occurredAt":"2026-11-02T09:01:00Z"}"#,
        ])
        #expect(r.exitCode == 0, "\(r.error)")
        return cli
    }

    @Test func spellingsOfOneMailboxAreOneRecipient() throws {
        let cli = ledger()
        for spelling in ["ann@example.com", "ann@example.com.", "<ann@EXAMPLE.com>"] {
            let s = cli.run("status", spelling, "--format", "json")
            #expect(s.exitCode == 0, "\(s.error)")
            let lines = s.output.split(separator: "\n")
            #expect(lines.count == 1)
            let doc = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
            #expect(doc["recipient"] as? String == "ann@example.com")
            #expect((doc["events"] as? [Any])?.count == 2)
            #expect((doc["efs"] as? [String: Any])?["status"] as? String == "sent")
            let a = cli.run("address", spelling, "--format", "json")
            #expect(a.exitCode == 0, "\(a.error)")
            let address = try #require(try JSONSerialization.jsonObject(with: Data(a.output.utf8)) as? [String: Any])
            #expect(address["address"] as? String == "ann@example.com")
        }
    }

    @Test(arguments: ["status", "history", "address"])
    func malformedAddressIsRefusedSayingWhy(_ command: String) {
        let cli = ledger()
        let open = cli.run(command, "<ann@example.com")
        #expect(open.exitCode != 0)
        #expect(open.error.contains("'<ann@example.com' is not an email address: '<' without a closing '>'"), "\(open.error)")
        let close = cli.run(command, "ann@example.com>")
        #expect(close.exitCode != 0)
        #expect(close.error.contains("'ann@example.com>' is not an email address: '>' without an opening '<'"), "\(close.error)")
    }
}
