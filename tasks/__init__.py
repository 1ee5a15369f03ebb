"""Task specifications, loaders and the built-in suite of real text tasks."""
