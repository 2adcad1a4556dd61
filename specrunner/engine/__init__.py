"""The embedded local engine: the two MTS snapshot actions over the file system."""
