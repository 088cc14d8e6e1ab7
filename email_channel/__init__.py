"""The email channel: SMTP and IMAP intake, parsing, threading, replies by SMTP.

An edge like ``cti/``: the core knows only domain events, the profile store and the
router. File roles: ``settings`` (the ``[email]`` section), ``parsing`` (bounded MIME
parsing and HTML sanitising), ``tokens`` (signed reply tokens and Message-IDs),
``loops`` (the one rule on automatic mail), ``due`` (business-hours due times),
``threads`` (which thread a message belongs to), ``store`` (SQL), ``service`` (the
use cases: take a message in, reply, set pending, quarantine and retry), ``smtp`` and
``imap`` (the intakes), ``outbound`` (sending), ``errors``, ``events`` and ``wiring``.
See docs/email.md.
"""
