"""Benchmarks: each module measures one area and writes bench/results/<area>.json."""
