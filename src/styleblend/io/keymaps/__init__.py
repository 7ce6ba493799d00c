"""Name and layout tables between foreign checkpoint formats and our canonical (NVIDIA module-tree) keys.

Each table is plain data plus tiny layout transforms, so a reader and a writer of one format share a
single source of truth and a test can check one direction against the other.
"""
