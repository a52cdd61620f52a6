"""W1 "agent chat memory" benchmark: `python -m benchmarks.w1 --url URL`."""
