"""Arachne's benchmark harness: ``uv run --group bench python -m benchmarks.run``."""
