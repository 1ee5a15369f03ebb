"""Non-stationary multi-armed bandit controllers (numpy only)."""
