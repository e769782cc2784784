"""What scanners and the two faces share to run a scan: scanner-kind declarations, connection sampling
(--watch) and credentials in the OS keyring."""
