import LMDBKit
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A damaged LMDB meta page of a ledger's data file, mended from the other one
/// (``Ledger/mendMetaPage(path:dryRun:)``).
public struct MetaPageMend: Sendable, Hashable {
    /// The damaged meta page: 0 or 1.
    public var damagedPage: Int
    /// What was wrong with it.
    public var problem: String
    /// The sound meta page's LMDB transaction: the ledger opens at it once mended.
    public var transactionID: UInt64
    /// Where the damaged page's bytes were saved (in the ledger's directory), unless a dry run.
    public var savedCopy: String?
    /// Whether the two meta pages were sound but in each other's place, and are (or would be)
    /// swapped back: nothing is lost, no copy is kept, ``damagedPage`` is 0.
    public var swapped: Bool = false
}

extension Ledger {
    /// Mends a ledger whose data file has **one** damaged LMDB meta page, from the other one — the
    /// damage no other command gets past (LMDB refuses the file, and so every command: "the ledger
    /// is damaged: … meta page 0 has no LMDB magic number").
    ///
    /// LMDB commits by writing the newest transaction's meta page over the older of its two meta
    /// pages, after the transaction's pages are on disk, and never reuses the pages of the tree the
    /// older meta page names before the next commit: each meta page names a whole, intact tree, so
    /// the sound one opens a consistent ledger (``LMDBKit/DataFileSummary/repairMetaPage(path:dryRun:saveDamagedPage:)``
    /// says how it is written). When the damaged page was the newest — a torn write during a commit,
    /// the usual way a meta page is damaged — that commit had not returned, so no acknowledged event is
    /// lost; when it was damaged later, the newest commit's events are gone from the log and must be
    /// ingested again (appends are idempotent: what is still there is not appended twice). The damaged
    /// page's bytes are kept in the ledger's directory (`damaged-meta-page-N-<UTC time>.bin`).
    ///
    /// A meta page is judged with the tree it names (its last page within the file, its roots in
    /// range, no free-page record after its own id) and against the other page (the greater id must
    /// not name the smaller tree: an older page's id raised by two); the damaged one is replaced by
    /// a copy of the sound one under the sound one's id + 1, so both name the sound tree. Two meta
    /// pages found in each other's place are swapped back instead (``MetaPageMend/swapped``: nothing lost).
    ///
    /// No process may have the ledger open (they could not have, with a damaged meta page — but a
    /// writer may have opened it before the damage). Run ``verify()`` afterwards.
    /// - Parameters:
    ///   - path: the ledger's directory.
    ///   - dryRun: only say what would be mended; nothing is written.
    /// - Returns: what was (or would be) mended; `nil` when both meta pages are sound.
    /// - Throws: ``LedgerError/damaged(path:what:)`` when it cannot be mended this way (both meta
    ///   pages damaged, a file shorter than the sound page's tree: restore from a backup);
    ///   ``LedgerError/cannotOpen(path:reason:)`` when the file cannot be read or written, or another
    ///   process has the ledger open.
    public static func mendMetaPage(path: String, dryRun: Bool = false, now: Instant = Ledger.systemClock()) throws(LedgerError) -> MetaPageMend? {
        let stamp = String(now.rfc3339.filter { $0 != ":" && $0 != "-" })
        let dataFile = DataFileSummary.dataFile(in: path)
        var st = stat()
        if stat(path, &st) != 0 { throw .cannotOpen(path: path, reason: "no ledger there (nothing to mend)") }
        do {
            // The page number is known only once the file is read: a dry run first names it.
            guard let plan = try DataFileSummary.repairMetaPage(path: dataFile, dryRun: true) else { return nil }
            if dryRun {
                return MetaPageMend(damagedPage: plan.damagedPage, problem: plan.problem, transactionID: plan.transactionID, savedCopy: nil,
                                    swapped: plan.swapped)
            }
            let copy: String? = plan.swapped ? nil : path + "/damaged-meta-page-\(plan.damagedPage)-\(stamp).bin"
            guard let done = try DataFileSummary.repairMetaPage(path: dataFile, saveDamagedPage: copy) else { return nil }
            return MetaPageMend(damagedPage: done.damagedPage, problem: done.problem, transactionID: done.transactionID, savedCopy: done.savedCopy,
                                swapped: done.swapped)
        } catch {
            switch error.kind {
            case .damaged, .empty: throw .damaged(path: path, what: error.description)
            case .missing, .unreadable: throw .cannotOpen(path: path, reason: error.description)
            }
        }
    }
}
