"""agent-storage pg backend."""
