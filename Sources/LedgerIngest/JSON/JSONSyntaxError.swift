/// Why a text is not JSON as RFC 8259 defines it, and where (internal).
///
/// `offset` is the 0-based byte offset, from the first byte of the text that was checked, of the byte
/// where the reader saw the fault (for a text cut short: its end). Readers add the record's own
/// offset in the input, so that the error names the byte in the file.
struct JSONSyntaxError: Error, Sendable, Equatable {
    /// What is wrong, for people ("malformed JSON: …", "truncated JSON: …", "not valid UTF-8 …").
    var message: String
    /// The 0-based byte offset of the fault from the first byte of the checked text.
    var offset: Int
}

/// Limits and policies of the strict reader (internal; the decisions are documented on ``JSONSyntax``).
struct JSONReadOptions: Sendable {
    /// Deepest nesting of arrays and objects accepted (a top-level `[]` is depth 1). 512, as
    /// Foundation's `JSONSerialization`: RFC 8259 §9 lets a parser limit nesting, and the recursion of
    /// the reader stays far from the stack's end on every thread.
    var maximumDepth: Int = 512
    /// Whether an object holding the same member name twice (compared after unescaping, byte for
    /// byte) is an error. RFC 8259 §4: names "SHOULD be unique"; a text with duplicates is still JSON
    /// (JSONTestSuite's `y_object_duplicated_key*`), so the generic reading accepts it (last wins, as
    /// `JSONSerialization`), while the records of the feeds are read with `true`.
    var rejectDuplicateNames: Bool = false

    /// The options the feed readers use: duplicates rejected at every depth of a record.
    static let records = JSONReadOptions(maximumDepth: 512, rejectDuplicateNames: true)
}
