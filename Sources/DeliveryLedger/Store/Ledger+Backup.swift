import LMDBKit
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What ``Ledger/backup(to:)`` wrote and checked.
public struct BackupReport: Sendable, Hashable {
    /// The backup's directory.
    public var path: String
    /// The log position the copy ends at (its basis: the last append committed when it began).
    public var position: UInt64
    /// The hash chain's head at that position, hex (as `verify` prints it).
    public var head: String
    /// The size of the copy's `data.mdb`, bytes.
    public var bytes: Int
}

extension Ledger {
    /// Writes an online, consistent copy of the ledger into `directory` (which must not exist),
    /// then verifies it.
    ///
    /// The copy is LMDB's `mdb_env_copy2` without compaction: it reads one snapshot in a read
    /// transaction, so writers keep appending meanwhile, and the copy is the ledger as of the last
    /// commit before it began, page for page (free pages included). Not `MDB_CP_COMPACT`: the
    /// compacting copy rewrites every page from its header, and one damaged header byte made it
    /// crash (found by a tester, on ledgers that `verify` passed); a page copy reads no page's
    /// contents, and the verification of the copy then reads them all. It is written into a temporary directory beside
    /// `directory` (0700, `data.mdb` 0600), checked with ``verify(maximumProblems:)`` (hash chain,
    /// indexes, projection), and only then renamed to `directory`: a backup that exists is whole and
    /// verified. To restore, stop the writers and move the backup's directory into the ledger's
    /// place (it is a ledger: `data.mdb`, and `lock.mdb` once opened).
    /// - Returns: where, the copy's basis position and hash-chain head, its size.
    /// - Throws: ``LedgerError/invalidArgument(_:)`` when `directory` exists (a backup never
    ///   overwrites), ``LedgerError/backupNotWritten(destination:what:)`` when it cannot be created or written (no space, a file-size limit),
    ///   ``LedgerError/damaged(path:what:)`` naming this ledger when the copy does not verify (the
    ///   copy holds the ledger's own records and tables, so the problem is the source's; nothing is
    ///   kept at `directory`).
    public func backup(to directory: String) throws(LedgerError) -> BackupReport {
        var trimmed = directory
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        var st = stat()
        guard stat(trimmed, &st) != 0 else {
            throw .invalidArgument("the backup's destination \(directory) exists; name a new directory (a backup never overwrites)")
        }
        Self.removeAbandonedCopies(of: trimmed)
        let temporary = "\(trimmed).partial-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        guard mkdir(temporary, 0o700) == 0 else {
            let code = errno
            if code == ENOENT {
                // Parents are not made: a mistyped path would put the backup where nobody looks.
                let parent = trimmed.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
                throw .backupNotWritten(destination: directory, what: "the directory it goes in, \(parent.isEmpty ? "/" : parent), does not exist (create it first)")
            }
            throw .backupNotWritten(destination: directory, what: "its directory cannot be made: \(String(cString: strerror(code)))")
        }
        var kept = false
        defer {
            if !kept {
                unlink(temporary + "/data.mdb")
                unlink(temporary + "/lock.mdb")
                rmdir(temporary)
            }
        }
        do {
            try environment.copy(to: temporary, compact: false)
        } catch {
            if error.code == EFBIG || (error.code == EIO && Self.fileSizeLimit() != nil), let limit = Self.fileSizeLimit() {
                throw .backupNotWritten(destination: directory, what: "the process's file-size limit (ulimit -f: \(limit) bytes) is smaller than the backup (\(error.message))")
            }
            if error.code == ENOSPC || error.code == EIO || error.code == EDQUOT {
                let free = Self.freeSpace(temporary).map { " (\($0.available) bytes free)" } ?? ""
                throw .backupNotWritten(destination: directory, what: "its file system is full\(free) (\(error.message))")
            }
            throw .backupNotWritten(destination: directory, what: error.message)
        }
        let dataFile = DataFileSummary.dataFile(in: temporary)
        chmod(dataFile, 0o600)
        var size = stat()
        stat(dataFile, &size)
        var options = LedgerOptions()
        options.readOnly = true
        options.createIfMissing = false
        options.durable = false
        options.rules = self.options.rules
        // The copy holds the source's pages: damage found in it — by the checks, or as a fault
        // while reading it — is the source's, and is named so (found by a tester: the messages named
        // the temporary copy and sent to `verify` it).
        options.faultReportName = DataFileSummary.dataFile(in: path) + " (read through its backup copy, removed at the next backup)"
        let report: VerifyReport
        do {
            report = try Ledger(path: temporary, options: options).verify()
        } catch let LedgerError.damaged(_, what) {
            throw .damaged(path: path, what: "the ledger's copy for the backup does not open (\(what.replacingOccurrences(of: temporary, with: "the copy")))"
                           + ", so no backup was kept")
        } catch {
            throw .damaged(path: path, what: "the ledger's copy for the backup does not open (\(error)), so no backup was kept")
        }
        guard report.isHealthy else {
            // The copy holds the ledger's own records and tables: a problem found in it is the source's.
            throw .damaged(path: path, what: "the ledger does not verify, so no backup was kept (its copy, checked before it "
                           + "would have become \(directory), showed: \(report.problems[0]))")
        }
        guard rename(temporary, trimmed) == 0 else {
            throw .backupNotWritten(destination: directory, what: "the verified copy cannot be moved into place: \(String(cString: strerror(errno)))")
        }
        kept = true
        return BackupReport(path: trimmed, position: report.records, head: report.head, bytes: Int(size.st_size))
    }

    /// Removes the `<destination>.partial-<pid>-<n>` directories of earlier backups to the same
    /// destination whose process is gone (killed, or ended by the map-fault handler on a damaged
    /// ledger, before its own clean-up ran). A directory of a live process is left alone.
    static func removeAbandonedCopies(of destination: String) {
        let parent = destination.contains("/") ? String(destination[..<destination.lastIndex(of: "/")!]) : "."
        let prefix = String(destination[(destination.lastIndex(of: "/").map { destination.index(after: $0) } ?? destination.startIndex)...]) + ".partial-"
        guard let dir = opendir(parent.isEmpty ? "/" : parent) else { return }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            guard name.hasPrefix(prefix), let pid = Int32(name.dropFirst(prefix.count).prefix(while: { $0 != "-" })), pid > 0 else { continue }
            guard kill(pid, 0) != 0, errno == ESRCH else { continue }
            let path = (parent.isEmpty ? "" : parent) + "/" + name
            unlink(path + "/data.mdb")
            unlink(path + "/lock.mdb")
            rmdir(path)
        }
    }

    /// Writes an online, consistent copy of the ledger's `data.mdb` to the open file
    /// descriptor `fd` (e.g. standard output, to pipe it elsewhere): `mdb_env_copyfd2`, page for
    /// page (see ``backup(to:)``). Not verified here (it is a stream): restore it as `data.mdb` in a new 0700
    /// directory and run `ledger verify` on it.
    /// - Throws: ``LedgerError/storage(_:)`` (`EPIPE` when the reader went away, `ENOSPC`, …).
    public func backup(toFileDescriptor fd: Int32) throws(LedgerError) {
        do {
            try environment.copy(toFileDescriptor: fd, compact: false)
        } catch {
            throw .storage(error)
        }
    }

    /// Installs, for a command-line program, the handler that turns a fault while reading a ledger's
    /// memory map (a damaged page LMDB does not check) into a message naming the data file and the
    /// page, and exit code 3, instead of a death by `SIGBUS`/`SIGSEGV` (``MapFaultReporter``).
    /// Call it once from `main`, before opening ledgers; a library never calls it.
    public static func reportMapFaults() {
        MapFaultReporter.install()
    }
}
