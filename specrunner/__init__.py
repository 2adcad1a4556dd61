"""specrunner: declarative batch spec runner for Alibaba Cloud MTS snapshot jobs."""

__version__ = "0.1.0"
