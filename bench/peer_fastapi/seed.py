"""Create the peer's table and seed it with the benchmark's accounts.

    <peer venv>/bin/python -m bench.peer_fastapi.seed   # reads BENCH_FLOOR_DATA, PEER_DATABASE_URL

The same accounts as luffy's (ids, username, email, mobile, profile) and the same
argon2id hash string, which pwdlib's ``Argon2Hasher`` at luffy's parameters verifies
without asking for an update. The table is dropped and created anew.
"""

import asyncio
import json
import os
from decimal import Decimal

from sqlalchemy import func, insert, select

from bench.peer_fastapi.app import PASSWORD_HELPER, User, engine


async def main():
    with open(os.environ["BENCH_FLOOR_DATA"]) as f:
        data = json.load(f)
    async with engine.begin() as conn:
        await conn.run_sync(User.__table__.drop, checkfirst=True)
        await conn.run_sync(User.__table__.create)
        await conn.execute(insert(User), [
            {"id": a["id"], "username": a["username"], "email": a["email"], "mobile": a["mobile"],
             "hashed_password": data["hash"], "nickname": a["nickname"], "avatar": a["avatar"],
             "money": Decimal(str(a["money"])), "credit": a["credit"], "is_active": True,
             "is_superuser": False, "is_verified": True} for a in data["accounts"]])
        count = (await conn.execute(select(func.count()).select_from(User))).scalar()
    await engine.dispose()
    # The hash must verify as current, or every login would also rewrite it.
    assert PASSWORD_HELPER.password_hash.current_hasher.identify(data["hash"])
    print(json.dumps({"users": count}))


if __name__ == "__main__":
    asyncio.run(main())
