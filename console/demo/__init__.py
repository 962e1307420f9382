"""The demo: the Tallyworks organisation file and its loader, and the planner of the live demo feed."""
