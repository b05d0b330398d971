import Glibc
import DeliveryLedger
import LedgerCLI

// A reader that leaves a pipe early (`ledger … | head`) gives EPIPE on the next write: a report
// ends there quietly with status 0, a backup or export reports it and ends with status 1; no command
// ends by a signal.
signal(SIGPIPE, SIG_IGN)
// A file-size limit (`ulimit -f`) makes a write past it fail with EFBIG, which the commands name,
// instead of killing the process with SIGXFSZ.
signal(SIGXFSZ, SIG_IGN)
Ledger.reportMapFaults()
LedgerCommand.main()
