"""Communications: templates, the message outbox, channel adapters and the sender."""
