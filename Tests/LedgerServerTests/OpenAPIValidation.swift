import Foundation
import LedgerTestSupport

/// Validates recorded answers against `Schemas/openapi.json` with Python's `jsonschema`
/// (`Draft202012Validator`, formats checked): for each answer, the schema of
/// `paths[path][method].responses[status].content[media type]`; an answer whose status or media type
/// the document does not list is an error too.
enum OpenAPIValidation {
    struct Answer: Encodable {
        var path: String
        var method: String
        var status: Int
        var contentType: String
        var body: String
    }

    static let script = #"""
    import json, sys
    try:
        from jsonschema import Draft202012Validator, FormatChecker
    except ImportError:
        sys.exit(3)
    doc = json.load(open(sys.argv[1]))
    answers = json.load(sys.stdin)
    base = "https://delivery-ledger.example/openapi.json"
    try:
        from referencing import Registry
        from referencing.jsonschema import DRAFT202012
        registry = Registry().with_resource(base, DRAFT202012.create_resource(doc))
        def validator(schema): return Draft202012Validator(schema, registry=registry, format_checker=FormatChecker())
    except ImportError:  # jsonschema < 4.18 (Debian's python3-jsonschema)
        from jsonschema import RefResolver
        resolver = RefResolver(base, doc, store={base: doc})
        def validator(schema): return Draft202012Validator(schema, resolver=resolver, format_checker=FormatChecker())
    errors = []
    def esc(s): return s.replace("~", "~0").replace("/", "~1")
    for a in answers:
        op = doc["paths"].get(a["path"], {}).get(a["method"].lower())
        where = "%s %s %s" % (a["method"], a["path"], a["status"])
        if op is None:
            errors.append(where + ": no such operation"); continue
        if str(a["status"]) not in op["responses"]:
            errors.append(where + ": status not documented"); continue
        media = a["contentType"].split(";")[0].strip()
        content = op["responses"][str(a["status"])].get("content", {})
        if media not in content:
            errors.append(where + ": media type " + media + " not documented"); continue
        pointer = "#/paths/%s/%s/responses/%s/content/%s/schema" % (esc(a["path"]), a["method"].lower(), a["status"], esc(media))
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$ref": base + pointer}
        if media == "application/json":
            try:
                instance = json.loads(a["body"])
            except Exception as e:
                errors.append(where + ": not JSON: " + str(e)); continue
        else:
            instance = a["body"]
        v = validator(schema)
        for e in sorted(v.iter_errors(instance), key=lambda e: list(e.absolute_path)):
            errors.append(where + ": /" + "/".join(map(str, e.absolute_path)) + ": " + e.message[:300])
    print(json.dumps(errors))
    """#

    /// The validation errors of `answers` (empty when all conform).
    static func errors(_ answers: [Answer]) throws -> [String] {
        let document = SchemaValidation.schemasDirectory.appendingPathComponent("openapi.json").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, document]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        let data = try JSONEncoder().encode(answers)
        let writer = Thread { input.fileHandleForWriting.write(data); try? input.fileHandleForWriting.close() }
        writer.start()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw SchemaValidation.Unavailable(process.terminationStatus == 3 ? "python3 has no jsonschema module: pip install jsonschema"
                                               : "validator exited with status \(process.terminationStatus)")
        }
        return (try JSONSerialization.jsonObject(with: out) as? [String]) ?? ["unexpected validator output"]
    }
}
