import Foundation
import Logging

/// The log handler of `ledger serve`: one line per entry on standard error,
/// `2026-12-05T09:49:21.123Z notice ledger.serve: listening on http://127.0.0.1:8025 db=/var/lib/ledger`
/// — the UTC time with milliseconds, the level, the label, the message, then the metadata sorted by
/// key in logfmt (`key=value`).
///
/// What a sender controls reaches the log (a batch id header, an error quoting its body), so nothing
/// it writes can make a line of its own or a field of its own: a key or value that holds a space, a
/// `"`, a `=`, a backslash or a control character is written in double quotes with `\"`, `\\`,
/// `\n`, `\r`, `\t` and `\u{…}` escapes, and the message's control characters are escaped the same
/// way (a tester forged `appended=999` through `X-MessageSystems-Batch-ID: a<TAB>b appended=999`
/// with swift-log's `StreamLogHandler`, which writes values as they are).
struct LogfmtHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    private let write: @Sendable (String) -> Void

    /// A handler writing to standard error.
    static func standardError(label: String) -> LogfmtHandler {
        LogfmtHandler(label: label) { line in FileHandle.standardError.write(Data(line.utf8)) }
    }

    init(label: String, write: @escaping @Sendable (String) -> Void) {
        self.label = label
        self.write = write
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        write(Self.line(at: Date(), level: event.level, label: label, message: "\(event.message)",
                        metadata: metadata.merging(event.metadata ?? [:]) { $1 }))
    }

    /// One entry's line, ending with a newline.
    static func line(at date: Date, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata) -> String {
        var out = date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
        out += " \(level) \(escaped(label, quoting: true)): " + escaped(message, quoting: false)
        for key in metadata.keys.sorted() {
            out += " " + escaped(key, quoting: true) + "=" + escaped(text(metadata[key]!), quoting: true)
        }
        return out + "\n"
    }

    /// A metadata value as text: a list or a dictionary in brackets, as swift-log writes them.
    private static func text(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let s): s
        case .stringConvertible(let c): c.description
        case .array(let a): "[" + a.map(text).joined(separator: ", ") + "]"
        case .dictionary(let d): "[" + d.keys.sorted().map { "\($0): \(text(d[$0]!))" }.joined(separator: ", ") + "]"
        }
    }

    /// `s` with its control characters escaped; when `quoting`, in double quotes if it is empty or
    /// holds a space, `"`, `=`, `\` or a control character.
    static func escaped(_ s: String, quoting: Bool) -> String {
        let needsQuotes = quoting && (s.isEmpty || s.unicodeScalars.contains { $0 == " " || $0 == "\"" || $0 == "=" || $0 == "\\" || isControl($0) })
        guard needsQuotes || s.unicodeScalars.contains(where: isControl) else { return s }
        var out = needsQuotes ? "\"" : ""
        for c in s.unicodeScalars {
            switch c {
            case "\"" where needsQuotes: out += "\\\""
            case "\\" where needsQuotes: out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where isControl(c): out += "\\u{\(String(c.value, radix: 16))}"
            default: out.unicodeScalars.append(c)
            }
        }
        return out + (needsQuotes ? "\"" : "")
    }

    /// C0 and C1 controls, DEL, and the line and paragraph separators (U+2028, U+2029).
    private static func isControl(_ c: Unicode.Scalar) -> Bool {
        c.value < 0x20 || (0x7F...0x9F).contains(c.value) || c.value == 0x2028 || c.value == 0x2029
    }
}
