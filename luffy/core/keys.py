"""Signing and verifying keys, each named by a ``kid``; the JWKS they publish.

HS algorithms sign with ``JWT_SECRET_KEY`` and also verify with
``JWT_PREVIOUS_SECRET_KEYS``. RS/ES algorithms sign with ``JWT_PRIVATE_KEY_FILE``
and verify with its public half plus every key in ``JWT_PUBLIC_KEY_FILES``; a key
retired from signing keeps verifying while its file stays in that list.
"""

import base64
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm


@dataclass
class KeyRing:
    """The key that signs, the keys that verify (by kid) and the public JWKS."""

    signing_kid: str
    signing_key: object
    verifying: dict = field(default_factory=dict)
    jwks: list = field(default_factory=list)

    @classmethod
    def from_config(cls, config):
        """Build the ring once, at start-up, from the app's config."""
        algorithm = config["JWT_ALGORITHM"]
        if algorithm.startswith("HS"):
            secrets = [config["JWT_SECRET_KEY"], *config["JWT_PREVIOUS_SECRET_KEYS"]]
            keys = {_secret_kid(s): s for s in secrets}
            return cls(_secret_kid(secrets[0]), secrets[0], keys, [])
        if not config.get("JWT_PRIVATE_KEY_FILE"):
            raise RuntimeError(f"{algorithm} needs JWT_PRIVATE_KEY_FILE (a PEM private key)")
        private = serialization.load_pem_private_key(
            Path(config["JWT_PRIVATE_KEY_FILE"]).read_bytes(), password=None)
        publics = [private.public_key()] + [
            serialization.load_pem_public_key(Path(p).read_bytes())
            for p in config["JWT_PUBLIC_KEY_FILES"]
        ]
        ring = cls(public_jwk(private.public_key(), algorithm)["kid"], private)
        for public in publics:
            jwk = public_jwk(public, algorithm)
            if jwk["kid"] not in ring.verifying:
                ring.verifying[jwk["kid"]] = public
                ring.jwks.append(jwk)
        return ring


def _secret_kid(secret):
    """A kid for an HMAC secret: a short digest that reveals nothing usable."""
    return hashlib.sha256(b"luffy-kid:" + str(secret).encode()).hexdigest()[:16]


def public_jwk(public_key, algorithm):
    """The RFC 7517 JWK of ``public_key``, its kid the RFC 7638 thumbprint."""
    if isinstance(public_key, rsa.RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(public_key, as_dict=True)
        members = ("e", "kty", "n")
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        jwk = ECAlgorithm.to_jwk(public_key, as_dict=True)
        members = ("crv", "kty", "x", "y")
    else:
        raise RuntimeError(f"unsupported public key type {type(public_key).__name__}")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).digest()
    kid = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return {**jwk, "kid": kid, "use": "sig", "alg": algorithm}


def generate_pair(algorithm):
    """A new private key for ``algorithm``, its public half (both PEM bytes) and its kid."""
    if algorithm.startswith("RS"):
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif algorithm.startswith("ES"):
        curve = {"ES256": ec.SECP256R1, "ES384": ec.SECP384R1, "ES512": ec.SECP521R1}[algorithm]
        private = ec.generate_private_key(curve())
    else:
        raise ValueError(f"{algorithm} is not an asymmetric algorithm")
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private_pem, public_pem, public_jwk(private.public_key(), algorithm)["kid"]
