"""The job states the service reports, and how specrunner groups them. One definition for everyone.

``Snapshoting`` is spelled as the service spells it.
"""

from __future__ import annotations

RUNNING_STATES = ("Submitted", "Snapshoting")
FINAL_STATES = ("Success", "Fail")
KNOWN_STATES = RUNNING_STATES + FINAL_STATES
