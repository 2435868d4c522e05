"""Moving from the old Django backend: its accounts, hashes and token blacklist
(``flask users import-django``, :mod:`luffy.legacy.importer`), and the tables that
remember what came from it (:mod:`luffy.legacy.models`)."""
