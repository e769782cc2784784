"""The store: SQLite and its migrations, merging reports into one host per real machine, and whether a
scan's process is still alive."""
