"""Benchmarks run by hand (see bench/README.md); tests/test_bench_smoke.py runs them at tiny sizes."""
