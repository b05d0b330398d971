import DeliveryLedger
import LedgerCLI

Ledger.reportMapFaults()
LedgerCommand.main()
