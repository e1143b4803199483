"""Accounts: users, roles, blocking and sessions."""
