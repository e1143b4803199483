"""The business of Rural24, one package per context (accounts, catalog, ads, messaging).

Nothing here imports Litestar, Redis or SAQ: what a handler needs from outside (enqueue a job,
publish an event, invalidate a cache) it receives as a parameter.
"""
