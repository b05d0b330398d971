import Foundation
import LedgerTestSupport
import Testing

/// The JSON Schemas' examples: `Schemas/examples/<schema>/valid-*.json` must validate and every
/// `invalid-*.json` (wrong in one way, named after it) must not.
@Suite("Schema examples")
struct SchemaExamplesTests {
    static let schemas = ["canonical-event", "project", "status", "history", "rules", "audit"]

    struct Example: Sendable, CustomTestStringConvertible {
        var schema: String
        var file: URL
        var isValid: Bool { file.lastPathComponent.hasPrefix("valid-") }
        var testDescription: String { "\(schema)/\(file.lastPathComponent)" }
    }

    static let examples: [Example] = schemas.flatMap { schema -> [Example] in
        let directory = SchemaValidation.schemasDirectory.appendingPathComponent("examples/\(schema)", isDirectory: true)
        let files = (try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)) ?? []
        return files.filter { $0.pathExtension == "json" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
            .map { Example(schema: schema, file: $0) }
    }

    @Test("Each schema has at least 3 valid and 4 invalid examples", arguments: schemas)
    func enoughExamples(schema: String) {
        let mine = Self.examples.filter { $0.schema == schema }
        #expect(mine.filter(\.isValid).count >= 3)
        #expect(mine.filter { $0.file.lastPathComponent.hasPrefix("invalid-") }.count >= 4)
        #expect(mine.allSatisfy { $0.isValid || $0.file.lastPathComponent.hasPrefix("invalid-") })
    }

    @Test("Example validates or fails as its name says", arguments: examples)
    func example(_ example: Example) throws {
        let errors = try SchemaValidation.validate(instance: try Data(contentsOf: example.file), schemaNamed: example.schema)
        if example.isValid {
            #expect(errors.isEmpty, "\(errors)")
        } else {
            #expect(!errors.isEmpty, "expected \(example.file.lastPathComponent) to be invalid")
        }
    }

    /// `history` uses `status`'s names for the same things: its definitions are copies of status's
    /// (an event, a view, the basis), plus the step that pairs them.
    @Test("history.schema.json's definitions are status.schema.json's, plus its step")
    func historySharesStatusDefinitions() throws {
        func schema(_ name: String) throws -> [String: Any] {
            try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: SchemaValidation.schemaURL(named: name))) as? [String: Any])
        }
        let status = try schema("status"), history = try schema("history")
        var defs = try #require(history["$defs"] as? [String: Any])
        #expect(defs.removeValue(forKey: "step") != nil)
        #expect(NSDictionary(dictionary: defs).isEqual(to: try #require(status["$defs"] as? [String: Any])))
        let statusProperties = try #require(status["properties"] as? [String: Any])
        let historyProperties = try #require(history["properties"] as? [String: Any])
        for name in ["delivery", "recipient", "basis"] {
            #expect(NSDictionary(dictionary: try #require(historyProperties[name] as? [String: Any]))
                .isEqual(to: try #require(statusProperties[name] as? [String: Any])), "\(name)")
        }
    }

    @Test("Text that is not JSON is reported, not thrown")
    func notJSON() throws {
        let errors = try SchemaValidation.validate(instance: Array("{\"kind\":".utf8), schemaNamed: "canonical-event")
        #expect(errors.count == 1 && errors[0].contains("not JSON"))
    }

    @Test("A missing schema is an error")
    func missingSchema() {
        #expect(throws: SchemaValidation.Unavailable.self) {
            try SchemaValidation.validate(instance: Data("{}".utf8), schemaNamed: "no-such-schema")
        }
    }
}
