"""The training loop and the pictures it writes (used by the command line)."""
