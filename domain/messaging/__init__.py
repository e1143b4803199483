"""Messaging: conversations between a buyer and a seller, messages and their read state."""
