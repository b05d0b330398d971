import Crypto
import Foundation

extension RuleTable {
    /// SHA-256 (hex) of the table's content (JSON with sorted keys): two tables that share a
    /// `version` but differ in their rules have different digests. The projection records the
    /// digest it was built with and is rebuilt when it differs, so a table edited without a new
    /// version still re-projects.
    public var digest: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let bytes = (try? encoder.encode(self)) ?? Data(version.utf8)
        return HashChain.hex(Array(SHA256.hash(data: bytes)))
    }
}
