"""agent-storage SQLite backend (``sqlite:///path.db``, ``sqlite://`` in memory)."""
