/// The feed readers' strict JSON reader, for other callers (tools, the fuzz target): RFC 8259
/// exactly, with the decisions documented on ``FeedReader`` and in README "Input: the JSON reader"
/// (lone surrogates refused, nesting at most 512, numbers beyond `Double` refused).
public enum StrictJSON {
    /// Reads one JSON text and returns its canonical serialisation: object members sorted by the
    /// UTF-8 bytes of their names, no white space, strings with only `"`, `\` and control characters
    /// escaped, integers that fit `Int64` as digits and other numbers as Swift prints a `Double` (the
    /// form content-hash event ids are computed from).
    ///
    /// - Parameters:
    ///   - bytes: the text.
    ///   - rejectDuplicateNames: refuse an object with a repeated member name (as the feed readers
    ///     do); otherwise the last one wins.
    /// - Throws: ``IngestError`` with ``IngestError/offset`` (from `bytes`' first byte) and the message;
    ///   its `file` is empty.
    public static func canonical(_ bytes: ArraySlice<UInt8>, rejectDuplicateNames: Bool = false) throws(IngestError) -> [UInt8] {
        do {
            return try JSONValue.parse(bytes, options: JSONReadOptions(maximumDepth: 512, rejectDuplicateNames: rejectDuplicateNames)).canonicalBytes
        } catch {
            throw IngestError(file: "", offset: error.offset, message: error.message)
        }
    }
}
