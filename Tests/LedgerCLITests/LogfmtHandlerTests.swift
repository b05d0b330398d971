import Foundation
@testable import LedgerCLI
import Logging
import Testing

/// `ledger serve`'s log lines (``LogfmtHandler``): what a sender writes (a batch id, an error
/// quoting a body) can make neither a line nor a field of its own.
@Suite struct LogfmtHandlerTests {
    let at = Date(timeIntervalSince1970: 1_764_928_161.125)  // 2025-12-05T09:49:21.125Z (exact in binary)

    @Test func plainValuesAreWrittenAsTheyAre() {
        let line = LogfmtHandler.line(at: at, level: .notice, label: "ledger.serve", message: "listening on http://127.0.0.1:8025",
                                      metadata: ["db": "/var/lib/ledger", "appended": "12"])
        #expect(line == "2025-12-05T09:49:21.125Z notice ledger.serve: listening on http://127.0.0.1:8025 appended=12 db=/var/lib/ledger\n")
    }

    /// The tester's forged field: a tab, a space and `=` in a batch id header.
    @Test func aValueCannotForgeAField() {
        let line = LogfmtHandler.line(at: at, level: .info, label: "ledger.serve", message: "batch appended",
                                      metadata: ["appended": "0", "batch": "a\tb appended=999 duplicates=0"])
        #expect(line == "2025-12-05T09:49:21.125Z info ledger.serve: batch appended appended=0 batch=\"a\\tb appended=999 duplicates=0\"\n")
    }

    /// Newlines (also U+2028), quotes, backslashes and other controls are escaped in values and in
    /// the message: one entry is one line.
    @Test func oneEntryIsOneLine() {
        let line = LogfmtHandler.line(at: at, level: .notice, label: "ledger.serve", message: "malformed sparkpost\nFAKE 2025 error",
                                      metadata: ["error": "bad \"x\" \\ \r\n\u{2028}\u{1B}[31m", "empty": ""])
        #expect(line.filter { $0 == "\n" }.count == 1 && line.hasSuffix("\n"))
        #expect(line == "2025-12-05T09:49:21.125Z notice ledger.serve: malformed sparkpost\\nFAKE 2025 error empty=\"\" "
                + "error=\"bad \\\"x\\\" \\\\ \\r\\n\\u{2028}\\u{1b}[31m\"\n")
    }

    /// A list or a dictionary is written in brackets, quoted as one value.
    @Test func listsAndDictionaries() {
        let line = LogfmtHandler.line(at: at, level: .debug, label: "l", message: "m",
                                      metadata: ["list": ["a", "b"], "map": ["k": "v"]])
        #expect(line == "2025-12-05T09:49:21.125Z debug l: m list=\"[a, b]\" map=\"[k: v]\"\n")
    }
}
