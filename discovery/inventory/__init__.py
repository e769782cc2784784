"""The inventory read back from the store (build), its connections resolved into dependencies, and the
differences between two scans."""
