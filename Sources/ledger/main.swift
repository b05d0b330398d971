import LedgerCLI

LedgerCommand.main()
