"""Validation: YAML loading with marks, JSON Schema errors in the manifest's terms, semantic and
documented-rule checks, every problem reported at once as a diagnostic; and the typed model built
from a document that passed them (``validate.manifest`` is the entry point).
"""
