"""``flask users import-django``: the old backend's accounts into luffy, re-runnable.

Batches of old rows, in id order; each batch is one transaction of luffy's database
(a dry run keeps one transaction for the whole run and rolls it back). For each old row:

- seen before with the same fingerprint (``legacy_accounts.source_hash``): unchanged;
- seen before, changed on the old side: if luffy's row still hashes to what the import
  wrote (``luffy_hash``), the old values are applied (updated); else luffy's values are
  kept and the account is reported (changed on both sides);
- never seen: imported under its old id, or under a new one when luffy already gave
  that id away (reported).

A value luffy cannot take (an identifier another account uses, a value over luffy's
lengths, bad UTF-8, a NULL username) is left out and reported, one JSON object a line
(``id``, ``field``, ``value``, ``reason``); the account still comes.
"""

import hashlib
from contextlib import closing
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from sqlalchemy import bindparam, func, insert, select, text, update

from luffy.core import revocation
from luffy.core.identifiers import fold
from luffy.core.models import RefreshToken, User, utcnow
from luffy.extensions import db
from luffy.speed import bulk_insert, matching, read_ahead
from luffy.legacy.models import LegacyAccount, LegacyBlacklistedToken
from luffy.legacy.source import COLUMNS, TEXT, naive_utc

BATCH = 5000
USERS = User.__table__
LEGACY = LegacyAccount.__table__
LENGTHS = {"username": 150, "email": 254, "mobile": 15, "password": 255, "nickname": 50,
           "avatar": 255}
MONEY_LIMIT = Decimal("100000000")  # Numeric(10, 2)
INT_LIMIT = 2**31
UNUSABLE = "!"  # Django's prefix of an unusable password: matches nothing
# What a re-run compares of luffy's row: the values the import writes and luffy may change.
COMPARED = ("username", "email", "mobile", "password", "nickname", "avatar", "money", "credit",
            "is_active")
_ID, _TEXT_AT = 0, {name: COLUMNS.index(name) for name in COLUMNS}


@dataclass
class Summary:
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    conflicts: int = 0  # accounts with at least one reported problem
    reported: int = 0  # lines of the report
    tokens: int = 0  # blacklisted refresh tokens brought over
    new_ids: list = field(default_factory=list)

    @property
    def done(self):
        return self.imported + self.updated + self.unchanged


def fingerprint(values):
    """A stable hash of a sequence of values."""
    return hashlib.sha256(repr(tuple(values)).encode("utf-8", "backslashreplace")).hexdigest()


def luffy_fingerprint(row):
    """The hash of luffy's row (a mapping) over :data:`COMPARED`, as written and as read back."""
    return fingerprint((row["username"], row["email"], row["mobile"], row["password"],
                        row["nickname"], row["avatar"], f"{Decimal(row['money']):.2f}",
                        int(row["credit"]), bool(row["is_active"])))


class Importer:
    """One run. ``report`` is called with each report line (a dict)."""

    def __init__(self, source, media_url=None, dry_run=False, report=None, batch=BATCH):
        self.source = source
        self.media_url = media_url
        self.dry_run = dry_run
        self.report = report or (lambda line: None)
        self.batch = batch
        self.summary = Summary()
        self._placeholders = 0
        self.source_max = 0

    # -- the run ---------------------------------------------------------------

    def accounts(self, progress=None):
        """Import every account; ``progress(n)`` after each batch."""
        self.source_max = self.source.max_id()
        if not self.dry_run:
            self._move_sequence(self.source_max)
        with closing(read_ahead(lambda: self.source.batches(self.batch))) as batches:
            for rows in batches:
                self._one(rows, progress)
        if not self.dry_run:
            self._move_sequence(0)

    def _one(self, rows, progress):
        """One batch, one transaction (a dry run keeps its one transaction open)."""
        try:
            self._batch(rows)
            if not self.dry_run:
                db.session.commit()
                self._published()
        except BaseException:
            db.session.rollback()
            raise
        if progress:
            progress(len(rows))

    def blacklist(self):
        """Bring over the old backend's blacklisted refresh tokens not yet here."""
        with closing(self.source.blacklisted(self.batch)) as batches:
            for rows in batches:
                if rows:
                    self._tokens(rows)

    def _tokens(self, rows):
        jtis = [jti for jti, _ in rows]
        have = set(db.session.execute(select(LegacyBlacklistedToken.jti)
                                      .where(LegacyBlacklistedToken.jti.in_(jtis))).scalars())
        new = [{"jti": jti, "expires_at": expires} for jti, expires in rows if jti not in have]
        if new:
            db.session.execute(insert(LegacyBlacklistedToken.__table__), new)
        if not self.dry_run:
            db.session.commit()
        self.summary.tokens += len(new)

    def finish(self):
        """End a dry run: nothing it did stays."""
        db.session.rollback()

    # -- one batch -------------------------------------------------------------

    def _batch(self, rows):
        ids = [row[_ID] for row in rows]
        known = {r.old_id: r for r in db.session.execute(
            select(LEGACY).where(LEGACY.c.old_id.between(min(ids), max(ids))))}
        fresh, changed = [], []
        for row in rows:
            digest = fingerprint(row)
            seen = known.get(row[_ID])
            if seen is None:
                fresh.append((row, digest))
            elif seen.source_hash == digest:
                self.summary.unchanged += 1
            else:
                changed.append((row, digest, seen))
        if not fresh and not changed:
            return
        current = {}
        if changed:
            current = {r.id: r._mapping for r in db.session.execute(
                select(USERS).where(USERS.c.id.in_([seen.account_id for _, _, seen in changed])))}
        records = [(self._record(row), digest, None) for row, digest in fresh]
        for row, digest, seen in changed:
            now = current.get(seen.account_id)
            if now is None:  # only where the database does not cascade (SQLite without FKs)
                continue
            if luffy_fingerprint(now) != seen.luffy_hash:
                self._problem(row[_ID], None, None, "changed in luffy and in the old backend since "
                              "the last import: luffy's values are kept")
                self.summary.conflicts += 1
                continue
            records.append((self._record(row), digest, seen))
        taken = Taken(records)
        inserts, legacy_inserts, updates, legacy_updates, ended = [], [], [], [], []
        id_taken = self._ids_taken([r["id"] for r, _, seen in records if seen is None])
        for record, digest, seen in records:
            if seen is not None:
                own = seen.account_id
            elif record["id"] in id_taken:
                own = ("new", record["id"])  # its id is another account's: no int is its own
            else:
                own = record["id"]
            self._resolve(record, taken, own)
            values = {k: v for k, v in record.items() if not k.startswith("_")}
            if seen is None:
                old_id = values["id"]
                if old_id in id_taken:
                    # Past every old id, so that no later old account collides with it.
                    account_id = values["id"] = 1 + max(self.source_max, db.session.execute(
                        select(func.coalesce(func.max(USERS.c.id), 0))).scalar())
                    db.session.execute(insert(USERS).values(**values))
                    self._problem(old_id, "id", old_id, f"luffy already gave this id away: imported "
                                  f"as account {account_id}, and the old backend's tokens for it are refused")
                    self.summary.new_ids.append((old_id, account_id))
                else:
                    account_id = old_id
                    inserts.append(values)
                legacy_inserts.append({"old_id": old_id, "account_id": account_id, "source_hash": digest,
                                       "luffy_hash": luffy_fingerprint(values)})
                self.summary.imported += 1
            else:
                now = current[seen.account_id]
                for name in ("id", "date_joined"):
                    values.pop(name)
                # A confirmation holds for the address it confirmed only.
                values["email_verified"] = bool(now["email_verified"]) and values["email"] == now["email"]
                if (values["password"] != now["password"]
                        or (now["is_active"] and not values["is_active"])):
                    ended.append((seen.account_id, now["token_version"] + 1))
                    values["token_version"] = now["token_version"] + 1
                else:
                    values["token_version"] = now["token_version"]
                updates.append({"b_id": seen.account_id, **values})
                legacy_updates.append({"b_old": seen.old_id, "source_hash": digest,
                                       "luffy_hash": luffy_fingerprint(values)})
                self.summary.updated += 1
            if record["_problems"]:
                self.summary.conflicts += 1
        if inserts:
            bulk_insert(USERS, inserts)
        if legacy_inserts:
            bulk_insert(LEGACY, legacy_inserts)
        if updates:
            columns = [c for c in updates[0] if c != "b_id"]
            db.session.execute(update(USERS).where(USERS.c.id == bindparam("b_id"))
                               .values({c: bindparam(c) for c in columns}), updates)
            db.session.execute(update(LEGACY).where(LEGACY.c.old_id == bindparam("b_old"))
                               .values(source_hash=bindparam("source_hash"),
                                       luffy_hash=bindparam("luffy_hash")), legacy_updates)
        for account_id, version in ended:
            # A new password or a deactivation on the old side ends the account's luffy sessions.
            revocation.revoke_all(account_id)
        self._publish = [] if self.dry_run else ended

    def _ids_taken(self, ids):
        """Which of ``ids`` luffy's accounts already have (one range query)."""
        if not ids:
            return set()
        have = db.session.execute(select(USERS.c.id).where(USERS.c.id.between(min(ids), max(ids))))
        return set(have.scalars()).intersection(ids)

    def _published(self):
        """After a batch's commit: tell every instance about the sessions it ended."""
        for account_id, version in getattr(self, "_publish", ()):
            revocation.publish_version(account_id, version)
        self._publish = ()

    # -- one row ---------------------------------------------------------------

    def _problem(self, old_id, name, value, reason):
        self.report({"id": old_id, "field": name, "value": value, "reason": reason})
        self.summary.reported += 1

    def _record(self, row):
        """luffy's values for an old row; what cannot be taken is left out and noted."""
        old_id = row[_ID]
        problems = []

        def note(name, value, reason):
            problems.append(name)
            self._problem(old_id, name, value, reason)

        texts = {}
        for name in TEXT:
            value = row[_TEXT_AT[name]]
            if isinstance(value, (bytes, bytearray, memoryview)):
                raw = bytes(value)
                try:
                    value = raw.decode("utf-8")
                except UnicodeDecodeError:
                    note(name, raw.decode("utf-8", "backslashreplace"), "not valid UTF-8: left out")
                    value = None
            texts[name] = value
        for name in ("username", "email", "mobile", "password", "nickname"):
            value = texts[name]
            if value is not None and len(value) > LENGTHS[name]:
                note(name, value, f"longer than luffy's {LENGTHS[name]} characters: left out")
                texts[name] = None
        username = texts["username"]
        username_key = fold(username) if username is not None else None
        if username_key is not None and len(username_key) > LENGTHS["username"]:
            note("username", username, "too long once normalised: left out")
            username = username_key = None
        if username is None and "username" not in problems:
            note("username", None, "no username")
        email = (texts["email"] or "").lower() or None
        email_key = fold(email) if email is not None else None
        if email_key is not None and len(email_key) > LENGTHS["email"]:
            note("email", email, "too long once normalised: left out")
            email = email_key = None
        mobile = texts["mobile"] or None
        password = texts["password"]
        if not password:
            if "password" not in problems:
                note("password", password, "no password hash: the account gets in by SMS login or a reset")
            password = UNUSABLE
        avatar = self._avatar(texts["avatar"], note)
        money = self._number(row[_TEXT_AT["money"]], note)
        credit = row[_TEXT_AT["credit"]]
        try:
            credit = int(credit or 0)
        except (TypeError, ValueError):
            note("credit", str(credit), "not a whole number: 0 instead")
            credit = 0
        if not -INT_LIMIT <= credit < INT_LIMIT:
            note("credit", credit, "out of luffy's range: 0 instead")
            credit = 0
        try:
            date_joined = naive_utc(row[_TEXT_AT["date_joined"]]) or utcnow()
            last_login = naive_utc(row[_TEXT_AT["last_login"]])
        except (ValueError, UnicodeDecodeError):
            note("date_joined", None, "unreadable timestamp: the time of the import instead")
            date_joined, last_login = utcnow(), None
        return {
            "id": old_id, "username": username, "email": email, "mobile": mobile,
            "username_key": username_key, "email_key": email_key,
            "_mobile_key": fold(mobile) if mobile is not None else None,
            "password": password, "nickname": texts["nickname"] or "", "avatar": avatar,
            "money": money, "credit": credit, "is_active": bool(row[_TEXT_AT["is_active"]]),
            "date_joined": date_joined, "last_login": last_login, "token_version": 0,
            "email_verified": False, "_problems": problems,
        }

    def _avatar(self, path, note):
        if not path:
            return ""
        if "://" in path:
            url = path
        elif self.media_url:
            url = self.media_url + ("" if self.media_url.endswith("/") else "/") + path.lstrip("/")
        else:
            note("avatar", path, "a relative path and no --media-url: left out")
            return ""
        if len(url) > LENGTHS["avatar"]:
            note("avatar", url, f"longer than luffy's {LENGTHS['avatar']} characters: left out")
            return ""
        return url

    def _number(self, value, note):
        try:
            money = Decimal(str(value if value is not None else 0)).quantize(Decimal("0.01"))
        except (InvalidOperation, ValueError):
            note("money", str(value), "not a number: 0.00 instead")
            return Decimal("0.00")
        if abs(money) >= MONEY_LIMIT:
            note("money", str(money), "out of luffy's range: 0.00 instead")
            return Decimal("0.00")
        return money

    def _resolve(self, record, taken, own):
        """Leave out the identifiers that would make a login ambiguous (the rules of
        :func:`luffy.core.accounts.identifier_taken`), and give a missing username one."""
        old_id = record["id"]
        username = record["username"]
        if username is not None and taken.username(username, record["username_key"], own):
            self._problem(old_id, "username", username, "another account uses this as an identifier")
            record["_problems"].append("username")
            username = None
        if username is None:
            username = taken.placeholder(old_id, own)
            self._problem(old_id, "username", username, "given this username instead")
            record["username_key"] = fold(username)
        record["username"] = username
        email = record["email"]
        if email is not None and taken.email(record["email_key"], own):
            self._problem(old_id, "email", email, "another account uses this as an identifier: left out")
            record["_problems"].append("email")
            record["email"] = record["email_key"] = None
        mobile = record["mobile"]
        if mobile is not None and taken.mobile(mobile, record["_mobile_key"], own):
            self._problem(old_id, "mobile", mobile, "another account uses this as an identifier: left out")
            record["_problems"].append("mobile")
            record["mobile"] = mobile = None
        taken.add(own, username, record["username_key"], record["email_key"], record["mobile"])

    def _move_sequence(self, past):
        """On PostgreSQL, move the users' id sequence past every id in use and ``past``
        (ids given explicitly do not move it; MySQL's and SQLite's counters move alone)."""
        if db.engine.dialect.name != "postgresql":
            return
        seq = db.session.execute(text("SELECT pg_get_serial_sequence('users', 'id')")).scalar()
        if seq is None:
            return
        db.session.execute(
            text("SELECT setval(CAST(:seq AS regclass), GREATEST("
                 "(SELECT COALESCE(MAX(id), 0) FROM users), :past, "
                 "(SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM "
                 + seq + "), 1))"), {"seq": seq, "past": past})
        db.session.commit()


class Taken:
    """Which identifiers luffy's accounts use, for the rows of one batch: one query, then
    the batch's own values as they are accepted."""

    def __init__(self, records):
        plain, keys = set(), set()
        for r, _, _ in records:
            plain.update((r["username"], r["mobile"]))
            keys.update((r["username_key"], r["email_key"], r["_mobile_key"]))
        plain.discard(None)
        keys.discard(None)
        self.usernames, self.mobiles, self.email_keys, self.username_keys = {}, {}, {}, {}
        if not (plain or keys):
            return
        u = USERS.c
        # username == v implies username_key == fold(v): the keys find the usernames too.
        for chunk in _chunks(sorted(plain | keys), 20000):
            rows = db.session.execute(select(u.id, u.username, u.mobile, u.email_key, u.username_key).where(
                matching((u.mobile, u.email_key, u.username_key), chunk)))
            for row in rows:
                self._put(row.id, row.username, row.mobile, row.email_key, row.username_key)

    def _put(self, account, username, mobile, email_key, username_key):
        self.usernames[username] = account
        if mobile is not None:
            self.mobiles[mobile] = account
        if email_key is not None:
            self.email_keys[email_key] = account
        self.username_keys.setdefault(username_key, set()).add(account)

    @staticmethod
    def _other(where, value, own):
        holder = where.get(value)
        return holder is not None and holder != own

    def username(self, value, key, own):
        return (self._other(self.usernames, value, own) or self._other(self.mobiles, value, own)
                or self._other(self.email_keys, key, own))

    def email(self, key, own):
        return (self._other(self.email_keys, key, own) or self._other(self.mobiles, key, own)
                or bool(self.username_keys.get(key, set()) - {own}))

    def mobile(self, value, key, own):
        return (self._other(self.mobiles, value, own) or self._other(self.usernames, value, own)
                or self._other(self.email_keys, key, own))

    def add(self, own, username, username_key, email_key, mobile):
        self._put(own, username, mobile, email_key, username_key)

    def placeholder(self, old_id, own):
        """A username for an account that has none luffy can take: ``legacy-<old id>``."""
        name, n = f"legacy-{old_id}", 1
        while self.username(name, fold(name), own) or db.session.execute(
                select(func.count()).select_from(USERS).where(USERS.c.username == name)).scalar():
            n += 1
            name = f"legacy-{old_id}-{n}"
        return name


def _chunks(values, size):
    for i in range(0, len(values), size):
        yield values[i:i + size]
