"""Rendering: plans, runs and states as text, markdown and JSON, and the progress display."""
