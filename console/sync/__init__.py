"""Keeping several consoles in step: change watchers, the local outbox for actions taken offline, replay."""
