"""agent-storage in plain JSON files: ``jsonfiles:///path/to/dir``.

An example third-party backend written only against :mod:`agent_storage.spi` and
``docs/backends.md``: it implements the three record-store primitives and gets all five
domains from core. Each store (directory + table prefix) is one append-only journal file
of JSON lines, replayed when the store is first opened in a process.
"""

__version__ = "0.1.0"
