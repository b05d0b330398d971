@testable import DeliveryLedger
import Foundation
import LedgerTestSupport
import Testing

/// The rule patterns' prefilter (``PatternPrefilter``): the words it finds are worked out by hand
/// from the pattern's syntax, and it never rejects a text its expression matches.
@Suite struct PatternPrefilterTests {
    func words(_ pattern: String) -> [String]? {
        PatternPrefilter(pattern: pattern).map { $0.words.map { String(decoding: $0, as: UTF8.self) } }
    }

    @Test func alternativesOfLiterals() {
        #expect(words("user unknown|unknown user") == ["unknown user", "user unknown"])
        // Upper case in the pattern is matched without case: the words are lowercase.
        #expect(words("User Unknown") == ["user unknown"])
    }

    @Test func theLongestNecessaryRunIsKept() {
        // `\b`, `5`, a class, punctuation and `*`-repeated spaces are weaker than "user unknown".
        #expect(words(#"\b5[0-9]{2}:? *: *user unknown"#) == ["user unknown"])
        // `-` is punctuation (never in a word): "limit" (5) beats "rate" (4).
        #expect(words("rate-limit") == ["limit"])
    }

    @Test func optionalGroupsMultiplyOut() {
        #expect(words("mailbox (is |was )?full") == ["mailbox full", "mailbox is full", "mailbox was full"])
        #expect(words("[eh]lo (command )?(rejected|refused)") ==
                ["lo command refused", "lo command rejected", "lo refused", "lo rejected"])
    }

    @Test func nonASCIICharactersOnlyMatchNonASCIITexts() {
        // The prefilter only reads ASCII texts: a branch that needs `デ` cannot match one.
        #expect(words("user unknown|ディレクトリにありません") == ["user unknown"])
        // The Kelvin sign's lowercase is `k`: it may match an ASCII text, as some character.
        #expect(words("\u{212A}elvin") == ["elvin"])
        #expect(words("spam|\u{212A}") == nil)
    }

    @Test func repeatedGroupsStillNeedOneCopy() {
        #expect(words("(abc)+x") == ["abc"])
        #expect(words("(abc){2,3}") == ["abc"])
    }

    @Test func noPrefilterWhenABranchNeedsNothingOrWordsAreShort() {
        #expect(words("spam|junk|x") == nil)         // "x" is shorter than 3
        #expect(words("spam|.*") == nil)             // a branch that matches anything
        #expect(words("(spam)?") == nil)             // may match the empty string
        #expect(words("a*") == nil)
        #expect(words("ディレクトリ") == nil)          // non-ASCII characters are never words
    }

    @Test func constructsNotReadGiveNoPrefilter() {
        for p in ["(?i)spam", "spam(?=filter)", "spam(?!x)", #"(spam)\1"#, #"spam\p{L}"#, #"spam\x41"#,
                  #"\Qspam\E"#, "spam[[:alpha:]]", "spam[a-z&&[^x]]", "(?<name>spam)", "spam{", "spam{,3}", "spam)",
                  "spam]", "spam**"] {
            #expect(words(p) == nil, "\(p)")
        }
    }

    @Test func onlyASCIITextsAreLowered() {
        #expect(PatternPrefilter.lowercasedASCII("550 User UNKNOWN") == Array("550 user unknown".utf8))
        #expect(PatternPrefilter.lowercasedASCII("550 \u{212A}elvin") == nil)
    }

    /// Conservative on random patterns: whenever the case-insensitive expression matches a text,
    /// the prefilter lets it through.
    @Test func neverRejectsAMatchOfRandomPatterns() {
        var rng = ProjectionLawsTests.Rng(state: 20261203)   // seeded: a failure replays
        let pieces = ["ab", "bca", "a b", "CaB", "c", " ", "-", ".", "B", "a"]
        var checked = 0, matched = 0
        for _ in 0..<400 {
            let pattern = randomPattern(&rng, depth: 0)
            // Patterns the regex syntax refuses (e.g. a quantified `\b`) are no rule's pattern.
            guard let filter = PatternPrefilter(pattern: pattern), let regex = try? Regex(pattern).ignoresCase() else { continue }
            for _ in 0..<60 {
                let text = (0..<Int(rng.next() % 8)).map { _ in pieces[Int(rng.next() % UInt64(pieces.count))] }.joined()
                checked += 1
                guard (try? regex.firstMatch(in: text)) != nil else { continue }
                matched += 1
                #expect(filter.mayMatch(PatternPrefilter.lowercasedASCII(text)!), "pattern \(pattern) matches \(text)")
            }
        }
        #expect(checked > 1000 && matched > 100, "the generator made too few matching cases: \(checked) texts, \(matched) matches")
    }

    /// Conservative on the built-in rules and every line of the Sisimai corpus's bounce messages.
    @Test func neverRejectsAMatchOfTheBuiltInRules() throws {
        let folder = try Corpus.folder().appendingPathComponent("sisimai/emails")
        // Every line with a reply or enhanced status code, and every 20th other line (the regex
        // engine is slow in a debug build).
        let code = try Regex(#"\b[245][0-9][0-9][ -]|\b[245]\.[0-9]{1,3}\.[0-9]"#)
        var lines: Set<String> = []
        var others = 0
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() {
            let data = try Data(contentsOf: folder.appendingPathComponent(name))
            for line in String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline) where line.utf8.count < 400 {
                if (try? code.firstMatch(in: line)) != nil {
                    lines.insert(String(line))
                } else {
                    others += 1
                    if others % 20 == 0 { lines.insert(String(line)) }
                }
            }
        }
        #expect(lines.count > 1000)
        var filtered = 0, matched = 0
        for rule in RuleTable.builtIn.rules {
            guard let text = rule.text, let filter = PatternPrefilter(pattern: text) else { continue }
            filtered += 1
            let regex = try Regex(text).ignoresCase()
            for line in lines {
                guard let lowered = PatternPrefilter.lowercasedASCII(line), !filter.mayMatch(lowered) else { continue }
                if (try? regex.firstMatch(in: line)) != nil {
                    Issue.record("rule \(rule.id): the prefilter rejects \(line), which the pattern matches")
                }
                matched += 1
            }
        }
        // Every built-in pattern has a prefilter (a rule without one runs its expression on every
        // failure text), and it does reject texts (else it would only cost time).
        #expect(filtered == RuleTable.builtIn.rules.filter { $0.text != nil }.count)
        #expect(matched > lines.count)
    }

    private func randomPattern(_ rng: inout ProjectionLawsTests.Rng, depth: Int) -> String {
        var out = ""
        for _ in 0..<(1 + Int(rng.next() % 5)) {
            var atom: String
            switch rng.next() % 10 {
            case 0 where depth < 2:
                let branches = (0..<(1 + Int(rng.next() % 3))).map { _ in randomPattern(&rng, depth: depth + 1) }
                atom = (rng.next() % 2 == 0 ? "(" : "(?:") + branches.joined(separator: "|") + ")"
            case 1: atom = "[ab]"
            case 2: atom = "."
            case 3: atom = #"\b"#
            case 4: atom = #"\-"#
            default: atom = ["a", "b", "c", "B", " ", "ab", "bca", "cab", "a b"][Int(rng.next() % 9)]
            }
            switch rng.next() % 8 {
            case 0: atom += "?"
            case 1: atom += "*"
            case 2: atom += "+"
            case 3: atom += "{1,2}"
            default: break
            }
            out += atom
        }
        if depth == 0 && rng.next() % 3 == 0 { out += "|" + randomPattern(&rng, depth: 1) }
        return out
    }
}
