"""Dollar-cost averaging: plans that buy an index on a schedule through the normal buy pipeline."""
