import DeliveryLedger
import Foundation
import Testing

/// A rule table loaded with `--rules` is as strict as `Schemas/rules.schema.json`: each violation
/// is an error naming its place.
@Suite struct RuleTableStrictnessTests {
    /// A valid rule's members, to which each test adds or removes one.
    static let rule = #""id":"x","replyCode":"5xx","failureType":"hard","failureReason":"userUnknown","source":"s""#

    /// The error loading `json`, or `nil` when it loads.
    func error(_ json: String) -> String? {
        do {
            _ = try RuleTable.load(json: Data(json.utf8), name: "t.json")
            return nil
        } catch {
            return error.description
        }
    }

    @Test func aValidTableLoads() throws {
        #expect(error(#"{"version":"v","rules":[{\#(Self.rule)}]}"#) == nil)
        #expect(error(#"{"version":"v","rules":[]}"#) == nil)
        #expect(RuleTable.builtIn.rules.allSatisfy { $0.text != nil || $0.enhancedStatus != nil || $0.replyCode != nil || $0.smtpCommand != nil || $0.readsContext })
    }

    @Test func anUnknownTopLevelMemberIsRejected() {
        let e = error(#"{"version":"v","rules":[{\#(Self.rule)}],"comment":"x"}"#)
        #expect(e?.contains("t.json: 'comment' is not a member of a rule table") == true, "\(e ?? "loaded")")
    }

    @Test func anUnknownRuleMemberIsRejected() {
        // "regex" for "text": without the check the rule would load with no condition.
        let e = error(#"{"version":"v","rules":[{"id":"x","regex":"user unknown","failureType":"hard","failureReason":"userUnknown","source":"s"}]}"#)
        #expect(e?.contains("t.json: rules[0] (x).regex is not a member of a rule") == true, "\(e ?? "loaded")")
        let second = error(#"{"version":"v","rules":[{\#(Self.rule)},{"id":"y","replyCode":"4xx","failureType":"soft","failureReason":"refused","source":"s","finall":true}]}"#)
        #expect(second?.contains("rules[1] (y).finall is not a member of a rule") == true, "\(second ?? "loaded")")
    }

    @Test func aRuleWithNoConditionIsRejected() {
        let e = error(#"{"version":"v","rules":[{"id":"x","failureType":"hard","failureReason":"userUnknown","source":"s"}]}"#)
        #expect(e?.contains("t.json: rules[0] (x) has no condition") == true, "\(e ?? "loaded")")
    }

    /// A hard rule that can match only temporary failures would be made soft at every match (found
    /// by a new user: only `final: false` was refused).
    @Test func aHardRuleOfTemporaryFailuresIsRejected() {
        let reply = error(#"{"version":"v","rules":[{"id":"x","replyCode":"4xx","failureType":"hard","failureReason":"userUnknown","source":"s"}]}"#)
        #expect(reply?.contains("rules[0] (x): hard, but its replyCode '4xx' matches only temporary failures") == true, "\(reply ?? "loaded")")
        let status = error(#"{"version":"v","rules":[{"id":"x","enhancedStatus":"4.1.1","failureType":"hard","failureReason":"userUnknown","source":"s"}]}"#)
        #expect(status?.contains("hard, but its enhancedStatus '4.1.1' matches only temporary failures") == true, "\(status ?? "loaded")")
        // X.1.1 matches 5.1.1 too: it loads; a soft rule of 4xx loads.
        #expect(error(#"{"version":"v","rules":[{"id":"x","enhancedStatus":"X.1.1","failureType":"hard","failureReason":"userUnknown","source":"s"}]}"#) == nil)
        #expect(error(#"{"version":"v","rules":[{"id":"x","replyCode":"4xx","failureType":"soft","failureReason":"unreachable","source":"s"}]}"#) == nil)
    }

    @Test func anEmptyVersionIsRejected() {
        let e = error(#"{"version":"","rules":[{\#(Self.rule)}]}"#)
        #expect(e == "t.json: version is empty", "\(e ?? "loaded")")
    }

    @Test(arguments: [
        (#""id":"","replyCode":"5xx","failureType":"hard","failureReason":"userUnknown","source":"s""#, "rules[0].id is empty"),
        (#""id":"x","replyCode":"5xx","failureType":"hard","failureReason":"userUnknown","source":"""#, "rules[0] (x).source is empty"),
        (#""id":"x","text":"","failureType":"hard","failureReason":"userUnknown","source":"s""#, "rules[0] (x).text is empty"),
        (#""id":"x","enhancedStatus":"5.01.1","failureType":"hard","failureReason":"userUnknown","source":"s""#, "rules[0] (x).enhancedStatus '5.01.1'"),
        (#""id":"x","enhancedStatus":"5.+1.1","failureType":"hard","failureReason":"userUnknown","source":"s""#, "rules[0] (x).enhancedStatus '5.+1.1'"),
    ])
    func emptyOrMalformedMembersAreRejected(members: String, expected: String) {
        let e = error(#"{"version":"v","rules":[{\#(members)}]}"#)
        #expect(e?.contains(expected) == true, "\(e ?? "loaded")")
    }
}
