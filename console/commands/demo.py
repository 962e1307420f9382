"""Demo commands: seed the demo organisation, and one step of the live demo feed."""
