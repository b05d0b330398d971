/// A small, fast, seedable pseudo-random generator (Steele, Lea & Flood, "Fast splittable
/// pseudorandom number generators", OOPSLA 2014; the same algorithm as
/// swift-argument-parser's `Examples/roll/SplitMix64.swift`).
///
/// The same seed always yields the same sequence, on every platform and Swift version: the
/// workload generator builds everything from it, so that the same ``WorkloadSpec`` gives the
/// same bytes. Not cryptographically secure.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// Creates a generator whose sequence is determined by `seed`.
    ///
    /// - Parameter seed: any value; nearby seeds give unrelated sequences.
    public init(seed: UInt64) {
        state = seed
    }

    /// The next 64 pseudo-random bits.
    ///
    /// - Returns: a value uniformly distributed over all of `UInt64`.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SplitMix64.mix(state)
    }

    /// SplitMix64's output function: a bijective 64-bit finaliser, used as a hash.
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A hash of several values, order-sensitive (used to derive independent streams).
    static func hash(_ a: UInt64, _ b: UInt64, _ c: UInt64 = 0) -> UInt64 {
        mix(mix(mix(a &+ 0x9E37_79B9_7F4A_7C15) ^ b) &+ c)
    }

    /// A value in `0..<bound` (Lemire's multiply-shift; the bias, below 2⁻³², is irrelevant here).
    ///
    /// Written out rather than using `Int.random(in:using:)`, whose algorithm the standard library
    /// does not promise to keep, so that the workload bytes never change with the toolchain.
    mutating func below(_ bound: Int) -> Int {
        precondition(bound > 0)
        return Int(next().multipliedFullWidth(by: UInt64(bound)).high)
    }

    /// A value in `range` (inclusive).
    mutating func between(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + below(range.upperBound - range.lowerBound + 1)
    }

    /// A uniform value in `[0, 1)` with 53 random bits.
    mutating func unit() -> Double {
        Double(next() >> 11) * 0x1p-53
    }

    /// `true` with probability `p`.
    mutating func chance(_ p: Double) -> Bool {
        unit() < p
    }
}
