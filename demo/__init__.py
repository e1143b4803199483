"""Demo data for development and benchmarks: outside the app package, loaded by ``rural24 seed``."""
