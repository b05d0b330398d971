import Foundation

/// Validates JSON instances against the package's JSON Schemas (`Schemas/*.schema.json`,
/// draft 2020-12) with Python's `jsonschema` (`Draft202012Validator`, format checking on).
///
/// Each call runs `python3 -c <script> <schema path>` with the instance on standard input; the
/// script answers a JSON array of error messages. Tests that use it need `python3` with the
/// `jsonschema` module (`pip install jsonschema`, or Debian's `python3-jsonschema`); `date-time`
/// formats are checked by the script itself (RFC 3339, a real calendar date).
public enum SchemaValidation {
    /// Why validation could not run (as opposed to an instance being invalid).
    public struct Unavailable: Error, CustomStringConvertible {
        /// What is missing or went wrong, for people.
        public var description: String
        /// Creates an error with its message.
        public init(_ description: String) { self.description = description }
    }

    /// The package root (the directory holding `Package.swift`), found from this file's path.
    public static var packageRoot: URL {
        URL(fileURLWithPath: #filePath)  // …/Tests/LedgerTestSupport/SchemaValidation.swift
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The `Schemas/` directory of the package.
    public static var schemasDirectory: URL {
        packageRoot.appendingPathComponent("Schemas", isDirectory: true)
    }

    /// The file of a schema: `Schemas/<name>.schema.json` (a name already ending in
    /// `.schema.json` is taken as is).
    public static func schemaURL(named name: String) -> URL {
        let file = name.hasSuffix(".schema.json") ? name : name + ".schema.json"
        return schemasDirectory.appendingPathComponent(file)
    }

    /// Validates one JSON document against a schema.
    ///
    /// - Parameters:
    ///   - instance: the JSON text (UTF-8). Text that is not JSON gives one error message.
    ///   - schemaNamed: the schema's name, e.g. `canonical-event` for
    ///     `Schemas/canonical-event.schema.json`.
    /// - Returns: the validation error messages, each prefixed with the JSON pointer of the
    ///   instance location (`/deliveries/0/failed: -1 is less than the minimum of 0`), in a
    ///   stable order; empty when the instance is valid.
    /// - Throws: ``Unavailable`` when `python3` or its `jsonschema` module is missing (the message
    ///   says `pip install jsonschema`), when the schema file is missing or is not a valid draft
    ///   2020-12 schema, or when the process fails.
    public static func validate(instance: Data, schemaNamed: String) throws -> [String] {
        try run(instance: instance, schema: schemaNamed, lines: false)
    }

    private static func run(instance: Data, schema schemaName: String, lines: Bool) throws -> [String] {
        let schema = schemaURL(named: schemaName)
        guard FileManager.default.fileExists(atPath: schema.path) else {
            throw Unavailable("no schema file \(schema.path)")
        }
        let scratch = FileManager.default.temporaryDirectory
            .appendingPathComponent("schema-validation-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let input = scratch.appendingPathComponent("instance.json")
        let errorLog = scratch.appendingPathComponent("stderr.txt")
        try instance.write(to: input)
        guard FileManager.default.createFile(atPath: errorLog.path, contents: nil) else {
            throw Unavailable("cannot create \(errorLog.path)")
        }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, schema.path] + (lines ? ["--lines"] : [])
        let stdin = try FileHandle(forReadingFrom: input)
        defer { try? stdin.close() }
        let stderr = try FileHandle(forWritingTo: errorLog)
        defer { try? stderr.close() }
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        do {
            try process.run()
        } catch {
            throw Unavailable("cannot run python3 (\(error)); schema tests need python3 and `pip install jsonschema`")
        }
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let errorText = (try? String(contentsOf: errorLog, encoding: .utf8)) ?? ""

        switch process.terminationStatus {
        case 0:
            guard let messages = try? JSONSerialization.jsonObject(with: output) as? [String] else {
                throw Unavailable("unexpected validator output: \(String(decoding: output, as: UTF8.self).prefix(500))")
            }
            return messages
        case 3:
            throw Unavailable("python3 has no jsonschema module: pip install jsonschema (\(errorText.prefix(300)))")
        case 5:
            throw Unavailable("\(schema.lastPathComponent) is not a valid draft 2020-12 schema: \(errorText.prefix(1000))")
        case 127:
            throw Unavailable("python3 not found; schema tests need python3 and `pip install jsonschema`")
        default:
            throw Unavailable("validator exited with status \(process.terminationStatus): \(errorText.prefix(1000))")
        }
    }

    /// Validates one JSON document, given as bytes, against a schema.
    ///
    /// - Parameters:
    ///   - instance: the JSON text (UTF-8).
    ///   - schemaNamed: the schema's name, e.g. `project`.
    /// - Returns: the validation error messages; empty when valid.
    /// - Throws: ``Unavailable``, as the `Data` variant does.
    public static func validate(instance: [UInt8], schemaNamed: String) throws -> [String] {
        try validate(instance: Data(instance), schemaNamed: schemaNamed)
    }

    /// Validates every line of a JSON Lines document (blank lines skipped) against a schema, in
    /// one validator process.
    ///
    /// - Parameters:
    ///   - jsonLines: UTF-8 JSON Lines, one instance per line.
    ///   - schemaNamed: the schema's name, e.g. `canonical-event`.
    /// - Returns: the error messages, each prefixed with `line N` (from 1); empty when every line
    ///   is valid.
    /// - Throws: ``Unavailable``, as the `Data` variant does.
    public static func validate(jsonLines: [UInt8], schemaNamed: String) throws -> [String] {
        try run(instance: Data(jsonLines), schema: schemaNamed, lines: true)
    }

    /// The Python side: exit 0 with a JSON array of messages; 3 without jsonschema; 5 for an
    /// invalid schema.
    static let script = """
        import json, sys
        try:
            from jsonschema import Draft202012Validator
        except ImportError as error:
            print(error, file=sys.stderr)
            sys.exit(3)
        import re, datetime
        from jsonschema import FormatChecker
        checker = FormatChecker()
        # RFC 3339 date-time, checked here so that no extra module (rfc3339-validator) is needed.
        RFC3339 = re.compile(r"^(\\d{4}-\\d{2}-\\d{2})[Tt](\\d{2}:\\d{2}:\\d{2})(\\.\\d+)?([Zz]|[+-]\\d{2}:\\d{2})$")
        @checker.checks("date-time")
        def is_date_time(value):
            if not isinstance(value, str):
                return True
            m = RFC3339.match(value)
            if not m:
                return False
            fraction = (m.group(3) or "")[:7]
            zone = "+00:00" if m.group(4) in ("Z", "z") else m.group(4)
            try:
                datetime.datetime.fromisoformat(m.group(1) + "T" + m.group(2) + fraction + zone)
            except ValueError:
                return False
            return True
        with open(sys.argv[1], encoding="utf-8") as f:
            schema = json.load(f)
        try:
            Draft202012Validator.check_schema(schema)
        except Exception as error:
            print(error, file=sys.stderr)
            sys.exit(5)
        raw = sys.stdin.buffer.read()
        validator = Draft202012Validator(schema, format_checker=checker)
        def pointer(error):
            return "/" + "/".join(str(p) for p in error.absolute_path) if error.absolute_path else "(root)"
        def check(text, prefix):
            try:
                instance = json.loads(text)
            except Exception as error:
                return ["%s(document): not JSON: %s" % (prefix, error)]
            errors = sorted(validator.iter_errors(instance), key=lambda e: ([str(p) for p in e.absolute_path], e.message))
            return ["%s%s: %s" % (prefix, pointer(e), e.message) for e in errors]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            print(json.dumps(["(document): not UTF-8: %s" % error]))
            sys.exit(0)
        messages = []
        if "--lines" in sys.argv[2:]:
            for number, line in enumerate(text.split("\\n"), start=1):
                if line.strip():
                    messages += check(line, "line %d " % number)
        else:
            messages = check(text, "")
        print(json.dumps(messages))
        """
}
