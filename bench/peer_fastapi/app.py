"""The fastapi-users peer: luffy's token paths as a FastAPI service built on fastapi-users.

What a team would write with the library's documented pieces: its SQLAlchemy async
adapter on PostgreSQL (asyncpg, one ``AsyncSession`` per request), its ``UserManager``
(``authenticate`` overridden to accept the username, the email in any case or the mobile),
its argon2id helper (pwdlib's ``Argon2Hasher``) at luffy's parameters, its JWT strategy for
access tokens and its users router for ``GET /users/me``. fastapi-users has no refresh
endpoint: a second JWT strategy (its own audience, luffy's one-day lifetime) signs refresh
tokens, and ``/users/login/refresh`` reads one (the account by id, as the strategy does)
and answers a new access token: stateless, nothing stored, nothing to revoke.

The routes and bodies are luffy's (``python -m bench`` sends the same requests):

- ``POST /users/login/`` ``{"username", "password"}`` -> ``{"token", "refresh"}``;
- ``POST /users/login/refresh`` ``{"refresh"}`` -> ``{"access"}``;
- ``POST /users/login/verify`` ``{"token"}`` -> ``{}`` (the access strategy's decode);
- ``GET /users/me`` (Bearer) -> the profile (fastapi-users' ``current_user(active=True)``).

Its table is its own, ``fastapi_users_user`` in the benchmark's database (``seed.py``).
Settings: ``SECRET_KEY``, ``PEER_DATABASE_URL`` (``postgresql+asyncpg://...``),
``PASSWORD_HASH_MEMORY_COST`` / ``_TIME_COST`` / ``_PARALLELISM``. Served by
``gunicorn bench.peer_fastapi.app:app -k uvicorn_worker.UvicornWorker -w 2``.
"""

import os
from decimal import Decimal

import jwt
from fastapi import Depends, FastAPI, HTTPException
from fastapi_users import BaseUserManager, FastAPIUsers, IntegerIDMixin, schemas
from fastapi_users.authentication import AuthenticationBackend, BearerTransport, JWTStrategy
from fastapi_users.db import SQLAlchemyBaseUserTable, SQLAlchemyUserDatabase
from fastapi_users.jwt import decode_jwt
from fastapi_users.password import PasswordHelper
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pydantic import BaseModel
from sqlalchemy import Integer, Numeric, String, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SECRET = os.environ["SECRET_KEY"]
ACCESS_LIFETIME = 300
REFRESH_LIFETIME = 86400
REFRESH_AUDIENCE = ["fastapi-users:refresh"]


class Base(DeclarativeBase):
    pass


class User(SQLAlchemyBaseUserTable[int], Base):
    """fastapi-users' user table with an integer id and luffy's identifiers and profile."""

    __tablename__ = "fastapi_users_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    mobile: Mapped[str | None] = mapped_column(String(15), unique=True)
    nickname: Mapped[str] = mapped_column(String(50), default="")
    avatar: Mapped[str] = mapped_column(String(255), default="")
    money: Mapped[Decimal] = mapped_column(Numeric(10, 2), default=Decimal("0.00"))
    credit: Mapped[int] = mapped_column(default=0)


class UserRead(schemas.BaseUser[int]):
    username: str
    mobile: str | None
    nickname: str
    avatar: str
    money: float
    credit: int


class UserUpdate(schemas.BaseUserUpdate):
    pass


class UserDatabase(SQLAlchemyUserDatabase[User, int]):
    """The adapter, plus the one-query login lookup luffy's contract needs."""

    async def get_by_identifier(self, identifier):
        statement = select(User).where(or_(
            User.username == identifier, func.lower(User.email) == func.lower(identifier),
            User.mobile == identifier)).limit(2)
        users = (await self.session.execute(statement)).scalars().all()
        return users[0] if len(users) == 1 else None


PASSWORD_HELPER = PasswordHelper(PasswordHash((Argon2Hasher(
    memory_cost=int(os.environ.get("PASSWORD_HASH_MEMORY_COST", 19456)),
    time_cost=int(os.environ.get("PASSWORD_HASH_TIME_COST", 2)),
    parallelism=int(os.environ.get("PASSWORD_HASH_PARALLELISM", 1))),)))


class UserManager(IntegerIDMixin, BaseUserManager[User, int]):
    reset_password_token_secret = SECRET
    verification_token_secret = SECRET

    async def authenticate(self, credentials):
        """The library's ``authenticate``, looking the identifier up as luffy does."""
        user = None if "\x00" in credentials.username else \
            await self.user_db.get_by_identifier(credentials.username)
        if user is None:
            self.password_helper.hash(credentials.password)  # the library's timing equaliser
            return None
        verified, updated_hash = self.password_helper.verify_and_update(
            credentials.password, user.hashed_password)
        if not verified:
            return None
        if updated_hash is not None:
            await self.user_db.update(user, {"hashed_password": updated_hash})
        return user


engine = create_async_engine(os.environ["PEER_DATABASE_URL"])
async_session_maker = async_sessionmaker(engine, expire_on_commit=False)


async def get_async_session():
    async with async_session_maker() as session:
        yield session


async def get_user_db(session: AsyncSession = Depends(get_async_session)):
    yield UserDatabase(session, User)


async def get_user_manager(user_db: UserDatabase = Depends(get_user_db)):
    yield UserManager(user_db, PASSWORD_HELPER)


def get_access_strategy():
    return JWTStrategy(secret=SECRET, lifetime_seconds=ACCESS_LIFETIME)


def get_refresh_strategy():
    return JWTStrategy(secret=SECRET, lifetime_seconds=REFRESH_LIFETIME,
                       token_audience=REFRESH_AUDIENCE)


auth_backend = AuthenticationBackend(
    name="jwt", transport=BearerTransport(tokenUrl="users/login"),
    get_strategy=get_access_strategy)
fastapi_users = FastAPIUsers[User, int](get_user_manager, [auth_backend])

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


class Credentials(BaseModel):
    username: str
    password: str


class RefreshBody(BaseModel):
    refresh: str


class VerifyBody(BaseModel):
    token: str


def _not_valid():
    return HTTPException(status_code=401, detail="token_not_valid")


@app.post("/users/login/")
@app.post("/users/login", include_in_schema=False)
async def login(credentials: Credentials, user_manager: UserManager = Depends(get_user_manager),
                access: JWTStrategy = Depends(get_access_strategy),
                refresh: JWTStrategy = Depends(get_refresh_strategy)):
    user = await user_manager.authenticate(credentials)
    if user is None or not user.is_active:
        raise HTTPException(status_code=401, detail="authentication_failed")
    return {"token": await access.write_token(user), "refresh": await refresh.write_token(user)}


@app.post("/users/login/refresh")
async def refresh_access(body: RefreshBody, user_manager: UserManager = Depends(get_user_manager),
                         access: JWTStrategy = Depends(get_access_strategy),
                         refresh: JWTStrategy = Depends(get_refresh_strategy)):
    user = await refresh.read_token(body.refresh, user_manager)
    if user is None or not user.is_active:
        raise _not_valid()
    return {"access": await access.write_token(user)}


@app.post("/users/login/verify")
async def verify(body: VerifyBody, access: JWTStrategy = Depends(get_access_strategy)):
    try:
        decode_jwt(body.token, access.decode_key, access.token_audience,
                   algorithms=[access.algorithm])
    except jwt.PyJWTError:
        raise _not_valid() from None
    return {}


@app.get("/healthz")
async def healthz():
    return {"status": "ok"}


app.include_router(fastapi_users.get_users_router(UserRead, UserUpdate), prefix="/users")
