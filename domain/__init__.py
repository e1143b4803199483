"""The business of Rural24, one package per context (accounts, catalog, ads, messaging) plus
``shared``.

Nothing here imports Litestar, Redis or SAQ. A write is ``handler(Command(actor, payload), uow)``
(``domain.shared.unit_of_work``): it changes rows through the unit of work's session and declares
what must follow (cache generations, jobs, emails, push events, ended sessions); the adapter that
commits and carries those out is ``infrastructure.unit_of_work``. A read is a function of a
``ReadConnection`` (``domain.shared.ports``) that returns typed read models.
"""
