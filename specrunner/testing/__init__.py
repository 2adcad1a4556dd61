"""Helpers for tests and demos: synthetic media whose content can be checked."""
