"""samizdat_node: the I/O side of Samizdat (store, host, sync, CLI, gateway)."""

__version__ = "0.1.0"
