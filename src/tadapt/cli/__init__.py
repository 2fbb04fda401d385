"""Command-line interface: the only layer that reads user configuration and prints."""
