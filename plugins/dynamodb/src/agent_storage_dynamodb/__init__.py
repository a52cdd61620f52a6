"""agent-storage dynamodb backend."""
