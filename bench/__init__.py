"""Benchmarks: synthetic arXiv days scored, selected and sent against local fake servers."""
