"""mmvig's benchmarks, run as scripts (``python benchmarks/scaling.py``).

A package so that the tests import the benchmarks' shared code as
``benchmarks.benchmark_utils``.
"""
