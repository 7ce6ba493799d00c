"""Command-line interface: one small module per command, each thin over the Python API."""
