"""Measured speed and quality claims of the course (see benchmarks/README.md)."""
