"""What luffy remembers of the old Django backend.

``legacy_accounts`` maps each imported old account to its luffy account, with the
fingerprints that let a re-run of the import tell who changed what since: ``source_hash``
is a hash of the old row as last imported, ``luffy_hash`` a hash of the luffy row as the
import last wrote it. An old row whose hash moved was changed on the old side; a luffy
row whose hash moved was changed in luffy.

``legacy_blacklisted_tokens`` holds the ``jti`` of every refresh token the old backend
logged out (simplejwt's ``token_blacklist_blacklistedtoken``).
"""

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from luffy.extensions import db


class LegacyAccount(db.Model):
    """One account of the old backend, by its old id, and the luffy account it became.

    ``account_id`` equals ``old_id`` unless luffy had already given that id away, in which
    case the account was imported under a new id and the old backend's tokens for
    ``old_id`` are refused.
    """

    __tablename__ = "legacy_accounts"

    old_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True, nullable=False)
    # sha256 hex of the old row as last imported, and of luffy's row as the import wrote it.
    source_hash: Mapped[str] = mapped_column(String(64))
    luffy_hash: Mapped[str] = mapped_column(String(64))

    @property
    def same_id(self):
        """Whether the account kept its old id (the old backend's tokens may be honoured)."""
        return self.account_id == self.old_id

    def __repr__(self):
        return f"<LegacyAccount {self.old_id} -> {self.account_id}>"


class LegacyBlacklistedToken(db.Model):
    """A refresh token the old backend blacklisted (logged out), by ``jti``."""

    __tablename__ = "legacy_blacklisted_tokens"

    jti: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)

    def __repr__(self):
        return f"<LegacyBlacklistedToken {self.jti}>"
