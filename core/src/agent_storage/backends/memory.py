"""In-memory reference backend (``memory://``): placeholder until the reference lands."""
