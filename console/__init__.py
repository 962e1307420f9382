"""The domain: commands, queries, audit, routing, demo feed. Imports models/, never Qt or ui/."""
