"""Job functions the worker (``rural24.worker``) runs, one module per concern."""
