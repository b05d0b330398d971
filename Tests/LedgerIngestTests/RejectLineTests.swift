import LedgerIngest
import Testing

/// ``RejectedRecord/singleLine``: a rejected element as one line, its value unchanged.
@Suite struct RejectLineTests {
    static func line(_ text: String) -> String {
        String(decoding: RejectedRecord(error: IngestError(file: "f", message: "m"), raw: Array(text.utf8)).singleLine, as: UTF8.self)
    }

    @Test func prettyJSONBecomesCompactJSON() {
        #expect(Self.line("{\n  \"a\": [1, 2],\r\n\t\"b\" : \"x  y\\n\"\n}\n") == #"{"a":[1,2],"b":"x  y\n"}"#)
    }

    /// White space between two tokens that are not structural stays one space: invalid JSON stays
    /// invalid the same way (never `1 2` → `12`, `tru e` → `true`).
    @Test func tokensStayApart() {
        #expect(Self.line("{\"a\": 1\n 2, \"b\": tru\ne}") == #"{"a":1 2,"b":tru e}"#)
    }

    /// A raw control character inside a string (not JSON) is written as its escape.
    @Test func controlCharactersInStringsAreEscaped() {
        #expect(Self.line("{\"a\": \"one\ntwo\"}") == #"{"a":"one\u000atwo"}"#)
    }

    /// A form-encoded body (Mailgun legacy): CR and LF percent-encoded.
    @Test func formBodies() {
        #expect(Self.line("event=bounced&error=550\r\nuser unknown\n") == "event=bounced&error=550%0D%0Auser unknown")
    }
}
