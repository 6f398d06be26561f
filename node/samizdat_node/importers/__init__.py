"""Importers: pure converters from source formats to record bodies (the CLI does the I/O)."""
