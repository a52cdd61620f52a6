"""agent-storage sqlite backend."""
