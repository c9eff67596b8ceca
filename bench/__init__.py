"""Benchmarks: each module prints a table comparing a measure against its target or a
baseline measured in the same run. `python -m bench` runs them all; `make bench` too."""
