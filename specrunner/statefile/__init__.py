"""The state: the lock file's codec and records, the journal, atomic writes, local and remote (OSS)
storage, and the lock that guards them.
"""
