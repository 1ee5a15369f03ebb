"""Mixing-ratio Bayesian optimisation on scikit-optimize."""
