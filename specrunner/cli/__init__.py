"""The command line: typer commands, the approval prompt, and the one error handler (exits)."""
