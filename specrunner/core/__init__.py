"""The core: the typed model, job expansion, templates, the plan, error codes and job states. Pure: no
file, clock, thread, network, CLI, YAML or JSON Schema import (tests/test_layers.py checks it).
"""
