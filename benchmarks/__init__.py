"""Benchmarks of autoaux and its libraries; run each from the repository root as
``python -m benchmarks.NAME`` (``python -m benchmarks.run_all --smoke`` runs the chain)."""
