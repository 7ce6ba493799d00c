"""One module per checkpoint format: ``read(path) -> Checkpoint`` and, where styleblend writes it, ``write``.

These modules depend only on the core of ``io`` (``checkpoint``, ``reading``, ``safe_unpickle``,
``keymaps``...). They are declared - name, suffixes, recognition - in :mod:`styleblend.io.registry`,
which imports them on first use; nothing else outside ``io`` imports them directly.
"""
