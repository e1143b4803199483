"""Rural24: the HTTP API, CLI and worker entry of the rural classifieds marketplace."""

__version__ = "0.1.0"
