"""What every context shares, and nothing of one context alone.

* ``unit_of_work``: the one shape of every write (``Command``, ``Actor``, the ``UnitOfWork`` a
  handler declares its consequences to) and the cache generation names;
* ``job_outbox`` and ``models``: the job outbox (its table and :func:`record_job`);
* ``emails``: the email outbox (queue an email in the write's transaction, deliver it later);
* ``errors``: the base of every context's errors and how they map to HTTP statuses;
* ``ports``: what the domain needs from outside (the read connection), as protocols;
* ``fields``: the checked field types of every request (text, amounts, cursors, tokens);
* ``structs``: the bases of request Structs and read models (camelCase on the wire);
* ``cursors``: the keyset cursor codec of every paged query;
* ``text``: accent folding done alike in Python and SQL, and slugs.
"""
