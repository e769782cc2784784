"""Scanners: each talks to one source and yields typed records. They never write the store."""
