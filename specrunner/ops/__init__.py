"""The use cases behind each command (load a context, plan, apply, refresh, import, state surgery),
returning result objects for the CLI and the renderers.
"""
