"""Exports: write the inventory to files other people and tools read."""
