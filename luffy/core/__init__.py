"""The core of luffy, beneath every blueprint: accounts and their identifiers, passwords
and their rules, tokens and the one check of them, sessions, one-time codes and the
messages that carry them, the throttle, and the ``login_required`` guard.

Each capability is a module of verbs that a view or a command calls (``authentication``,
``registration``, ``recovery``, ``confirmation``, ``sessions``, ``accounts``); one call is
one transaction. Nothing here imports a blueprint (``luffy.auth``, ``luffy.accounts``,
``luffy.web``, ``luffy.ops``), and no blueprint imports another.
"""
