"""What every context shares: the declarative base and small value types."""
