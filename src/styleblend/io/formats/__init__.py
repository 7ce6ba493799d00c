"""One module per checkpoint format; each exposes ``read(path) -> Checkpoint`` and, where it can, a writer."""
