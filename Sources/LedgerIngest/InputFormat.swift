// Readers of MTA feedback.
