import ArgumentParser
import Foundation
import DeliveryLedger
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct BackupCommand: OutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Write an online, consistent copy of the ledger, verified.",
        discussion: """
            Copies the ledger as of its last commit (LMDB mdb_env_copy2, a page copy without compaction, from \
            a read transaction: ingests keep running meanwhile) into DEST, a directory that must not exist; the \
            copy is verified (hash chain, indexes, projection) before it is moved into place. --to - streams the \
            data file to standard output instead (not verified: restore it as DEST/data.mdb in a new \
            directory and run `ledger verify --db DEST`). To restore: stop the writers, move the ledger \
            directory aside, move the backup's directory into its place. See README "Backup and restore".
            """
    )

    @OptionGroup var database: DatabaseOptions
    @Argument(help: ArgumentHelp("The backup's directory (must not exist).", valueName: "dest")) var destination: String?
    @Option(name: .long, help: ArgumentHelp("Where to write: a directory, or - for the data file on standard output.", valueName: "dest"))
    var to: String?

    func validate() throws {
        if destination != nil && to != nil { throw ValidationError("give DEST or --to DEST, not both") }
        if (destination ?? to) == nil { throw ValidationError("name the backup's destination: DEST (a new directory) or --to -") }
        if (destination ?? to) == "" { throw ValidationError("the backup's destination is empty") }
    }

    func execute(_ out: inout Output) throws {
        let ledger = try database.open(.read)
        let target = destination ?? to ?? ""
        if target == "-" {
            let failure: LedgerError?
            do {
                try ledger.backup(toFileDescriptor: STDOUT_FILENO)
                failure = nil
            } catch {
                failure = error
            }
            if let failure {
                // The copy went out as a stream: what was written is a prefix, not a ledger.
                var cause = "\(failure)"
                if case .storage(let e) = failure {
                    if e.code == EPIPE { cause = "the reader of standard output closed it before the end (broken pipe)" }
                    if e.code == ENOSPC { cause = "the file system standard output writes to is full" }
                }
                throw CLIError("the backup of \(ledger.path) to standard output (--to -) failed: \(cause). What was written is incomplete "
                               + "and is not a ledger: discard it. The ledger itself is unchanged.")
            }
            return
        }
        // Not inside the ledger's own directory: a copy there is removed or overwritten with the
        // ledger, and is no backup (as --reject-file, found by a tester: `backup --db demo.lmdb demo.lmdb/inner`).
        let ledgerDirectory = URL(fileURLWithPath: ledger.path).standardizedFileURL.resolvingSymlinksInPath().path
        var parent = URL(fileURLWithPath: target).standardizedFileURL.deletingLastPathComponent()
        while true {
            if parent.resolvingSymlinksInPath().path == ledgerDirectory {
                throw CLIError("the backup's destination \(target) is inside the ledger's directory \(ledger.path): a backup must live elsewhere "
                               + "(a copy there goes with the ledger). Nothing was written.")
            }
            if parent.path == "/" { break }
            parent = parent.deletingLastPathComponent()
        }
        let report = try ledger.backup(to: target)
        out.line("Backup of \(ledger.path) written to \(report.path): up to position \(report.position), \(report.bytes) bytes; "
                 + "verified (hash-chain head \(report.head)).")
    }
}
