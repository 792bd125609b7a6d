"""Data builders: rebuild data/ from PyPI source releases, and check it against its manifest."""
