"""The one normalisation of identifiers that a login compares without regard to case.

Emails match in any case and any compatibility form, so an email is compared, and
kept unique, by its key: NFKC, then Unicode case folding, then NFKC again (Unicode's
NFKC_Casefold, closed under repetition). Python computes it, never the database,
whose ``lower()`` disagrees with Python's on a final ``Σ`` and on ``İ`` (and SQLite's
folds ASCII only). Usernames and mobile numbers match exactly; a username's key
serves only to keep it from colliding with another account's email.

Used by the login lookup (``User.identified_by``), the uniqueness check
(``services.identifier_taken``) and the migration that filled the key columns.
"""

import unicodedata


def fold(identifier):
    """The caseless, compatibility-normalised key of ``identifier``."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", identifier).casefold())
