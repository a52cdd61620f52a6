"""Domain implementations of the in-memory reference backend (``memory://``)."""
