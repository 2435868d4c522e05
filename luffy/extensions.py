"""The extensions, created unbound here and bound to the app in the factory."""

from flask_cors import CORS
from flask_jwt_extended import JWTManager

from luffy.database import Base, SQLAlchemy
from luffy.redis_clients import RedisClients

# A request is one unit of work: attributes need no reload from the database after a
# commit (that reload cost a checkout, a pre-ping and a SELECT on every login).
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
jwt = JWTManager()
cors = CORS()
redis_clients = RedisClients()
