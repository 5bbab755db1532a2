"""Pure mail logic: bytes and ``email.message.EmailMessage`` in, values out.

Nothing in this package imports Flask, the database or the rest of ucmail, so each
module can be tested with a file from the corpus and reused by any worker.
"""
