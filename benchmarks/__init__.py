"""Benchmarks: govshare side by side with hand-written baselines, in one run (not in timed tests)."""
