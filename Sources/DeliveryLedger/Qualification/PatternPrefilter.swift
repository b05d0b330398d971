import Foundation

/// A necessary condition for a rule's regular expression to match, checked before the expression
/// runs: a set of lowercase ASCII words of which every match contains at least one.
///
/// Matching a failure text against the rule table's case-insensitive `Regex`es was the largest part
/// of decoding a feed (issue #11's profile: about a third of `ledger ingest`'s CPU, spent in the
/// regex engine's per-character case mapping), while most rules cannot match most texts: the rule
/// `mailbox (is |was )?full|…` needs "mailbox" or "over" or … somewhere in the text. The prefilter
/// finds, from the pattern's syntax, words that any match must contain (the technique of RE2's
/// `FilteredRE2` and of Hyperscan's literal prefilters), and a text that contains none of them is
/// skipped without running the expression. The expression still decides every text that passes, so
/// the prefilter never changes an answer; it only has to be *conservative*:
///
/// - Only what it understands is analysed: literal characters, `.`, character classes, the escapes
///   `\b \B \d \D \w \W \s \S \n \r \t` and escaped punctuation, anchors, groups `( )` and `(?: )`,
///   alternation and the quantifiers `? * + {n} {n,} {n,m}` (greedy, lazy or possessive). Any other
///   construct (inline options, lookaround, back references, `\p{…}`, `\x`, `\u`, `\Q…\E`, POSIX or
///   nested classes) gives no prefilter: the expression runs on every text.
/// - Words are made only of ASCII letters, digits and spaces. Any other literal character
///   (punctuation, non-ASCII) is treated as "some character": Unicode canonical equivalence lets a
///   `Regex` match `;` against U+037E, and case folding lets `k` match the Kelvin sign. A non-ASCII
///   character that no case mapping or compatibility decomposition links to ASCII (`デ`) matches no
///   ASCII text: a branch that needs one needs nothing of an ASCII text's words.
/// - It is applied only to texts that are all ASCII (``lowercasedASCII(_:)``), where the
///   case-insensitive match of an ASCII letter is exactly its ASCII lowercase.
/// - A pattern whose best words are shorter than ``minimumWordLength`` gets no prefilter (a check
///   that nearly every text passes only costs time).
struct PatternPrefilter: Sendable, Equatable {
    /// Every match of the pattern, lowercased, contains at least one of these.
    let words: [[UInt8]]

    /// Words shorter than this make no prefilter.
    static let minimumWordLength = 3
    /// The largest set of alternative strings the analysis keeps exact (beyond it, it keeps a
    /// necessary subpart instead).
    static let maximumAlternatives = 24

    /// The prefilter of `pattern`, or `nil` when the pattern has no usable necessary words or uses a
    /// construct the analysis does not read.
    init?(pattern: String) {
        var parser = Parser(Array(pattern.unicodeScalars))
        guard let info = parser.parse(), let words = info.necessary,
              !words.isEmpty, words.allSatisfy({ $0.count >= Self.minimumWordLength }) else { return nil }
        self.words = words.sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// The ASCII-lowercased bytes of `text`, or `nil` when `text` is not all ASCII (then no
    /// prefilter applies).
    static func lowercasedASCII(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for b in text.utf8 {
            guard b < 0x80 else { return nil }
            out.append(b >= 0x41 && b <= 0x5A ? b | 0x20 : b)
        }
        return out
    }

    /// Whether the pattern may match the text whose ``lowercasedASCII(_:)`` form is `lowered`:
    /// `false` means it certainly does not.
    func mayMatch(_ lowered: [UInt8]) -> Bool {
        lowered.withUnsafeBufferPointer { text in words.contains { Self.contains(text, $0) } }
    }

    private static func contains(_ text: UnsafeBufferPointer<UInt8>, _ word: [UInt8]) -> Bool {
        let n = word.count
        guard n <= text.count, let first = word.first else { return n == 0 }
        var i = 0
        let last = text.count - n
        while i <= last {
            if text[i] == first {
                var j = 1
                while j < n && text[i + j] == word[j] { j += 1 }
                if j == n { return true }
            }
            i += 1
        }
        return false
    }

    /// What the analysis knows of a sub-pattern: the exact set of strings it matches (when small and
    /// made of word characters), else a set of words one of which every match contains, else
    /// nothing (`necessary == nil`).
    struct Info: Equatable {
        /// Every string the sub-pattern can match (lowercase), when known and small.
        var exact: Set<[UInt8]>?
        /// Every match contains one of these (when `exact` is nil).
        var required: Set<[UInt8]>?

        static let nothing = Info(exact: nil, required: nil)
        static let empty = Info(exact: [[]], required: nil)
        /// Matches no ASCII text (a character that matches no ASCII character).
        static let impossible = Info(exact: [], required: nil)

        /// A set of words one of which every match contains, or `nil` when there is none (a
        /// sub-pattern that can match the empty string has none).
        var necessary: [[UInt8]]? {
            if let exact { return exact.contains([]) ? nil : Array(exact) }
            return required.map(Array.init)
        }

        /// The weakest word's length: how selective the condition is.
        static func strength(_ words: [[UInt8]]?) -> Int { words.map { $0.map(\.count).min() ?? 0 } ?? 0 }

        static func concatenation(_ parts: [Info]) -> Info {
            var run: Set<[UInt8]> = [[]]
            var onlyExact = true
            var best: [[UInt8]]? = nil
            func consider(_ words: [[UInt8]]?) {
                if strength(words) > strength(best) || (strength(words) == strength(best) && (words?.count ?? .max) < (best?.count ?? .max)) {
                    best = words
                }
            }
            for part in parts {
                if let e = part.exact {
                    if run.count * e.count <= maximumAlternatives {
                        run = Set(run.flatMap { a in e.map { a + $0 } })
                    } else {
                        onlyExact = false
                        consider(Info(exact: run, required: nil).necessary)
                        run = e
                    }
                } else {
                    onlyExact = false
                    consider(Info(exact: run, required: nil).necessary)
                    consider(part.necessary)
                    run = [[]]
                }
            }
            if onlyExact { return Info(exact: run, required: nil) }
            consider(Info(exact: run, required: nil).necessary)
            return Info(exact: nil, required: best.map(Set.init))
        }

        static func alternation(_ branches: [Info]) -> Info {
            if branches.allSatisfy({ $0.exact != nil }) {
                let union = branches.reduce(into: Set<[UInt8]>()) { $0.formUnion($1.exact!) }
                if union.count <= maximumAlternatives { return Info(exact: union, required: nil) }
            }
            var union = Set<[UInt8]>()
            for b in branches {
                guard let words = b.necessary else { return .nothing }
                union.formUnion(words)
            }
            return Info(exact: nil, required: union)
        }

        func repeated(min: Int, max: Int?) -> Info {
            if min == 0 {
                if max == 1, var e = exact, e.count < PatternPrefilter.maximumAlternatives {
                    e.insert([])
                    return Info(exact: e, required: nil)
                }
                return .nothing
            }
            if min == 1 && max == 1 { return self }
            return Info(exact: nil, required: necessary.map(Set.init))
        }
    }

    /// A recursive-descent reader of the pattern syntax the analysis understands; `nil` for anything else.
    struct Parser {
        let s: [Unicode.Scalar]
        var i = 0
        var depth = 0

        init(_ s: [Unicode.Scalar]) { self.s = s }

        mutating func parse() -> Info? {
            guard let info = alternation(), i == s.count else { return nil }
            return info
        }

        private mutating func alternation() -> Info? {
            var branches: [Info] = []
            while true {
                guard let b = sequence() else { return nil }
                branches.append(b)
                if i < s.count && s[i] == "|" { i += 1; continue }
                break
            }
            return branches.count == 1 ? branches[0] : Info.alternation(branches)
        }

        private mutating func sequence() -> Info? {
            var parts: [Info] = []
            while i < s.count && s[i] != "|" && s[i] != ")" {
                guard let atom = atom() else { return nil }
                guard let q = quantified(atom) else { return nil }
                parts.append(q)
            }
            return Info.concatenation(parts)
        }

        private mutating func quantified(_ atom: Info) -> Info? {
            guard i < s.count else { return atom }
            var min = 1, max: Int? = 1
            switch s[i] {
            case "?": min = 0; max = 1; i += 1
            case "*": min = 0; max = nil; i += 1
            case "+": min = 1; max = nil; i += 1
            case "{":
                guard let (lo, hi) = bounds() else { return nil }
                min = lo; max = hi
            default: return atom
            }
            if i < s.count && (s[i] == "?" || s[i] == "+") { i += 1 }   // lazy or possessive: same strings
            if i < s.count && ["?", "*", "+", "{"].contains(s[i]) { return nil }
            return atom.repeated(min: min, max: max)
        }

        /// `{n}`, `{n,}`, `{n,m}` at `i`.
        private mutating func bounds() -> (Int, Int?)? {
            var j = i + 1
            func number() -> Int? {
                var v = 0, digits = 0
                while j < s.count, s[j].value >= 0x30, s[j].value <= 0x39, digits < 6 {
                    v = v * 10 + Int(s[j].value - 0x30); digits += 1; j += 1
                }
                return digits > 0 ? v : nil
            }
            guard let lo = number() else { return nil }
            var hi: Int? = lo
            if j < s.count && s[j] == "," {
                j += 1
                hi = number()
            }
            guard j < s.count, s[j] == "}", hi.map({ $0 >= lo }) ?? true else { return nil }
            i = j + 1
            return (lo, hi)
        }

        private mutating func atom() -> Info? {
            let c = s[i]
            switch c {
            case "(":
                i += 1
                if i < s.count && s[i] == "?" {
                    guard i + 1 < s.count, s[i + 1] == ":" else { return nil }   // only (?: …)
                    i += 2
                }
                depth += 1
                guard depth < 64, let inner = alternation(), i < s.count, s[i] == ")" else { return nil }
                depth -= 1
                i += 1
                return inner
            case "[":
                return characterClass() ? .nothing : nil
            case ".":
                i += 1
                return .nothing
            case "^", "$":
                i += 1
                return .empty
            case "\\":
                guard i + 1 < s.count else { return nil }
                let e = s[i + 1]
                i += 2
                switch e {
                case "b", "B": return .empty
                case "d", "D", "w", "W", "s", "S", "n", "r", "t": return .nothing
                default:
                    // Escaped punctuation is that character, which is never part of a word.
                    return e.isASCII && !Self.isWordByte(UInt8(e.value)) && e.value > 0x20 ? .nothing : nil
                }
            case "*", "+", "?", "{", "}", "]", ")", "|":
                return nil
            default:
                i += 1
                if !c.isASCII && !Self.mayMatchASCII(c) { return .impossible }
                guard c.isASCII, Self.isWordByte(UInt8(c.value)) else { return .nothing }
                let b = UInt8(c.value)
                return Info(exact: [[b >= 0x41 && b <= 0x5A ? b | 0x20 : b]], required: nil)
            }
        }

        /// Skips a `[…]` class; `false` for a class the analysis does not read (POSIX classes,
        /// nested classes, set operations, an unterminated class).
        private mutating func characterClass() -> Bool {
            var j = i + 1
            if j < s.count && s[j] == "^" { j += 1 }
            if j < s.count && s[j] == "]" { j += 1 }
            while j < s.count {
                switch s[j] {
                case "]":
                    i = j + 1
                    return true
                case "[": return false
                case "\\":
                    guard j + 1 < s.count else { return false }
                    let e = s[j + 1]
                    guard e.isASCII, !Self.isWordByte(UInt8(e.value)) || "dDwWsSnrt".unicodeScalars.contains(e) else { return false }
                    j += 2
                default:
                    // Set operations (`&&`, `--`, `~~`) are not read.
                    if "&~-".unicodeScalars.contains(s[j]) && j + 1 < s.count && s[j + 1] == s[j] { return false }
                    j += 1
                }
            }
            return false
        }

        /// Whether a non-ASCII pattern character could match some ASCII text character: when its
        /// case mappings or their compatibility decompositions hold an ASCII scalar (the Kelvin
        /// sign's lowercase is `k`; U+037E decomposes to `;`). A character that cannot never matches
        /// an ASCII text, the only texts the prefilter is used on.
        static func mayMatchASCII(_ c: Unicode.Scalar) -> Bool {
            let p = c.properties
            for form in [String(c), p.lowercaseMapping, p.uppercaseMapping, p.titlecaseMapping] {
                if form.unicodeScalars.contains(where: \.isASCII)
                    || form.decomposedStringWithCompatibilityMapping.unicodeScalars.contains(where: \.isASCII) {
                    return true
                }
            }
            return false
        }

        static func isWordByte(_ b: UInt8) -> Bool {
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x20
        }
    }
}
