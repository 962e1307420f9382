"""Service telemetry: metric samples and their roll-up (store), sources and charts in later steps."""
