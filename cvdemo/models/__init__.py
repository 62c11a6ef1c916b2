"""Model builders. Every module here exposes ``SPECS``, a list of registry entries."""
