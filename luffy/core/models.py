"""The account, session, refresh-token, device, security-log and two-factor tables."""

from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Numeric, String, false, or_, select
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column, validates

from luffy.core import passwords
from luffy.core.identifiers import fold
from luffy.extensions import db


def identifier_type(length):
    """A string column compared by code point, also on MySQL/MariaDB.

    Their default collations ignore case, which would merge the case-sensitive
    usernames "Alice" and "alice"; migration 3c8e1f0a9b7d sets the same collation.
    """
    return String(length).with_variant(mysql.VARCHAR(length, collation="utf8mb4_bin"),
                                       "mysql", "mariadb")


PRECISE_TIME = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def utcnow():
    """Naive UTC now: every database here stores naive UTC timestamps."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class User(db.Model):
    """An account. Username, email and mobile each identify it at login.

    ``email_key`` and ``username_key`` are :func:`~luffy.core.identifiers.fold` of the
    email and the username, set whenever those are: a login compares an email by its
    key, and the keys keep an email from colliding with another account's identifiers.
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(identifier_type(150), unique=True)
    email: Mapped[str | None] = mapped_column(identifier_type(254), unique=True)  # stored lower-case
    mobile: Mapped[str | None] = mapped_column(identifier_type(15), unique=True)
    # Not unique: usernames are case-sensitive ("Alice" and "alice" are two accounts).
    username_key: Mapped[str] = mapped_column(identifier_type(150), index=True)
    email_key: Mapped[str | None] = mapped_column(identifier_type(254), index=True, unique=True)
    # Set by a confirmation code sent to ``email`` (luffy/core/confirmation.py); reset codes go only there.
    email_verified: Mapped[bool] = mapped_column(default=False, server_default=false())
    password: Mapped[str] = mapped_column(String(255))  # a hash, never the password
    nickname: Mapped[str] = mapped_column(String(50), default="")
    avatar: Mapped[str] = mapped_column(String(255), default="")  # absolute URL or ""
    money: Mapped[Decimal] = mapped_column(Numeric(10, 2), default=Decimal("0.00"))
    credit: Mapped[int] = mapped_column(default=0)
    is_active: Mapped[bool] = mapped_column(default=True)
    # Bumped when every session must end (password change, deactivation): access
    # tokens carry the version they were issued under in their "ver" claim.
    token_version: Mapped[int] = mapped_column(default=0)
    # Two-factor is on (luffy/core/twofactor.py): read with the account at login, so that
    # an account without it pays no extra query.
    two_factor: Mapped[bool] = mapped_column(default=False, server_default=false())
    date_joined: Mapped[datetime] = mapped_column(default=utcnow)
    last_login: Mapped[datetime | None]

    @validates("username")
    def _set_username_key(self, _name, username):
        self.username_key = fold(username)
        return username

    @validates("email")
    def _set_email_key(self, _name, email):
        self.email_key = fold(email) if email is not None else None
        return email

    def set_password(self, password):
        """Store ``password`` hashed with the configured argon2id parameters."""
        self.password = passwords.hash_password(password)

    def check_password(self, password):
        """``(ok, outdated)``: see :func:`luffy.core.passwords.verify_password`."""
        return passwords.verify_password(self.password, password)

    @staticmethod
    def active():
        """A query of the active accounts."""
        return select(User).where(User.is_active.is_(True))

    @staticmethod
    def identified_by(identifier):
        """The one query for login: username, email (any case or compatibility form, by
        its key) or mobile."""
        return select(User).where(
            or_(User.username == identifier, User.email_key == fold(identifier),
                User.mobile == identifier)
        ).limit(2)

    def identified_as(self, identifier):
        """Whether ``identifier`` is exactly this account's username, email or mobile.

        Checked again in Python because MySQL's PAD SPACE collations let "alice "
        match "alice" in SQL.
        """
        return identifier in (self.username, self.mobile) or (
            self.email_key is not None and fold(identifier) == self.email_key)

    def __repr__(self):
        return f"<User {self.id} {self.username!r}>"


class Session(db.Model):
    """One login and every token refreshed from it (:mod:`luffy.core.sessions`): its id
    is the ``family`` of its refresh tokens and the ``sid`` of its access tokens.

    ``ip`` and ``user_agent`` are the latest seen, ``last_used_at`` the latest login or
    refresh (written at most every ``SESSION_TOUCH_INTERVAL``); ``ended_at`` is set when
    it ends (logout, ended by its owner, reuse detected, every session ended).
    """

    __tablename__ = "sessions"
    __table_args__ = (
        Index("ix_sessions_account_id_created_at", "account_id", "created_at"),
        # MySQL: refresh_tokens' collation, so that a join compares its family with the id.
        {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"},
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # Microseconds on MySQL too (whole seconds by default): the list's order is the logins'.
    created_at: Mapped[datetime] = mapped_column(PRECISE_TIME, default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(PRECISE_TIME, default=utcnow)
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(255))
    ended_at: Mapped[datetime | None]

    def __repr__(self):
        return f"<Session {self.id} account={self.account_id}>"


class Device(db.Model):
    """A device an account logged in from (:mod:`luffy.core.devices`): a browser's device
    cookie id, and the hash of its user agent and network; when it was first and last seen."""

    __tablename__ = "devices"
    __table_args__ = (
        Index("ix_devices_account_id_cookie", "account_id", "cookie"),
        Index("ix_devices_account_id_agent_key", "account_id", "agent_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    cookie: Mapped[str] = mapped_column(String(43))  # the id the signed device cookie carries
    agent_key: Mapped[str] = mapped_column(String(64))  # SHA-256 of user agent and network
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self):
        return f"<Device {self.id} account={self.account_id}>"


class RefreshToken(db.Model):
    """One issued refresh token, by ``jti``: never the token itself.

    Tokens issued from one login form a family; rotation adds to it, and a reused
    (already rotated) token revokes the whole family.
    """

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    jti: Mapped[str] = mapped_column(String(36), unique=True)
    family: Mapped[str] = mapped_column(String(36), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]  # rotated: a newer token of the family replaced it
    revoked_at: Mapped[datetime | None]  # logged out, reused, or every session ended

    def __repr__(self):
        return f"<RefreshToken {self.jti} user={self.user_id}>"



class Event(db.Model):
    """One entry of an account's security log (:mod:`luffy.core.events`): what happened,
    when, from which address and user agent; never a password, code or token."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_account_id_id", "account_id", "id"),)  # a page of one account

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(255))
    method: Mapped[str | None] = mapped_column(String(16))  # a login's: password, sms, register, 2fa

    def __repr__(self):
        return f"<Event {self.id} {self.type} account={self.account_id}>"


class TwoFactor(db.Model):
    """An account's TOTP secret, encrypted (:mod:`luffy.core.twofactor`); waiting for its
    first code until ``confirmed_at``."""

    __tablename__ = "two_factor"

    account_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                            primary_key=True, autoincrement=False)
    secret: Mapped[str] = mapped_column(String(255))  # a Fernet token, never the secret
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]
    # The last time step whose code was taken: each step's code serves once.
    last_step: Mapped[int | None] = mapped_column(BigInteger)

    def __repr__(self):
        return f"<TwoFactor account={self.account_id}>"


class RecoveryCode(db.Model):
    """One recovery code of an account, by its hash (never the code); single use."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    digest: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None]

    def __repr__(self):
        return f"<RecoveryCode {self.id} account={self.account_id}>"
