"""Test harness: throwaway PostgreSQL clusters (primary + streaming replica) and a Redis server for the test suite."""
