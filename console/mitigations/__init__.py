"""Mitigation authorizations: what a leader signs, who may sign it, and what the console shows of it."""
