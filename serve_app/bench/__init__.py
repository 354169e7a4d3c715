"""Benchmark and load tools: raw and HTTP throughput, the load generator, the bare graph it is
compared with, and the fault and operations benchmarks. Not on any request path."""

from __future__ import annotations


class LoadError(ValueError):
    """A benchmark or load run that cannot or must not start; one line for the CLI."""
