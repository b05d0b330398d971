import DeliveryLedger
import Testing

/// RFC 3463 §2: status-code = class "." subject "." detail; class = "2" / "4" / "5";
/// subject = 1*3digit; detail = 1*3digit (no leading zeros).
struct EnhancedStatusCodeTests {
    @Test(arguments: [
        ("5.1.1", 5, 1, 1), ("4.7.0", 4, 7, 0), ("2.0.0", 2, 0, 0), ("5.7.26", 5, 7, 26), ("4.999.999", 4, 999, 999),
    ])
    func valid(_ text: String, _ c: Int, _ s: Int, _ d: Int) throws {
        let code = try #require(EnhancedStatusCode(text))
        #expect(code.statusClass == c && code.subject == s && code.detail == d)
        #expect(code.description == text)
    }

    @Test(arguments: ["", "5", "5.1", "5.1.1.1", "3.1.1", "1.1.1", "55.1.1", "5.01.1", "5.1.01", "5.1000.1", "5.1.1000",
                      "5..1", ".5.1.1", "5.1.1.", " 5.1.1", "5.1.1 ", "5.1.a", "５.1.1", "5.1.١", "5.-1.1", "5.+1.1"])
    func invalid(_ text: String) {
        #expect(EnhancedStatusCode(text) == nil, "\(text)")
    }

    /// The byte-level parser agrees with a plain reading of the grammar on random strings.
    @Test func agreesWithTheGrammar() {
        func reference(_ text: String) -> (Int, Int, Int)? {
            let parts = text.split(separator: ".", omittingEmptySubsequences: false)
            func number(_ s: Substring, _ maxDigits: Int) -> Int? {
                guard !s.isEmpty, s.count <= maxDigits, s.allSatisfy({ $0.isASCII && $0.isNumber }),
                      !(s.count > 1 && s.first == "0") else { return nil }
                return Int(s)
            }
            guard parts.count == 3, let c = number(parts[0], 1), [2, 4, 5].contains(c),
                  let s = number(parts[1], 3), let d = number(parts[2], 3) else { return nil }
            return (c, s, d)
        }
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("0123455.....x٣ ")
        for _ in 0..<20_000 {
            let text = String((0..<Int.random(in: 0...9, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
            let parsed = EnhancedStatusCode(text).map { ($0.statusClass, $0.subject, $0.detail) }
            let expected = reference(text)
            #expect(parsed.map { [$0.0, $0.1, $0.2] } == expected.map { [$0.0, $0.1, $0.2] }, "\(text)")
        }
    }
}
