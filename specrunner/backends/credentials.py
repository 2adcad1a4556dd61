"""Alibaba Cloud credentials, for MTS and OSS alike: where they come from, and how they are shown.

Never from the manifest or the state: ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET (+
ALIBABA_CLOUD_SECURITY_TOKEN for STS), then ALIYUN_ACCESS_KEY_ID / _SECRET, then the aliyun CLI
profile (``~/.aliyun/config.json``; ALIBABA_CLOUD_PROFILE or the file's ``current``; modes AK, StsToken).
A credential's repr and every message show the AccessKey ID masked, never the secret or the token.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from specrunner.core.errors import CredentialsError


@dataclass(frozen=True)
class Credential:
    access_key_id: str
    access_key_secret: str
    security_token: str | None
    source: str  # where it came from, for messages: "ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET", a profile, ...
    id_hint: str  # what to check when the key id is wrong
    secret_hint: str  # what to check when the secret is wrong

    def __repr__(self) -> str:  # never show the secret or the token
        return f"Credential(access_key_id={mask(self.access_key_id)!r}, source={self.source!r})"


MISSING_CREDENTIALS = (
    "no Alibaba Cloud credentials found: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET "
    "(plus ALIBABA_CLOUD_SECURITY_TOKEN for STS), or configure an aliyun CLI profile in ~/.aliyun/config.json"
)


def mask(key_id: str) -> str:
    return key_id[:4] + "****" + key_id[-3:] if len(key_id) > 10 else key_id[:2] + "****"


def _env_pair(env: dict[str, str], id_name: str, secret_name: str) -> tuple[str, str] | None:
    ak, sk = env.get(id_name, "").strip(), env.get(secret_name, "").strip()
    if ak and sk:
        return ak, sk
    if ak or sk:
        have, lack = (id_name, secret_name) if ak else (secret_name, id_name)
        raise CredentialsError(f"{have} is set but {lack} is not: set both (or neither)")
    return None


def resolve_credentials(env: dict[str, str] | None = None, home: Path | None = None) -> Credential:
    """The credential chain. Raises CredentialsError (one line) when nothing usable is found."""
    env = dict(os.environ) if env is None else env
    pair = _env_pair(env, "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET")
    if pair:
        token = env.get("ALIBABA_CLOUD_SECURITY_TOKEN", "").strip() or None
        return Credential(
            pair[0],
            pair[1],
            token,
            "ALIBABA_CLOUD_ACCESS_KEY_ID" + (" + ALIBABA_CLOUD_SECURITY_TOKEN" if token else ""),
            "ALIBABA_CLOUD_ACCESS_KEY_ID",
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
        )
    pair = _env_pair(env, "ALIYUN_ACCESS_KEY_ID", "ALIYUN_ACCESS_KEY_SECRET")
    if pair:
        return Credential(
            pair[0], pair[1], None, "ALIYUN_ACCESS_KEY_ID", "ALIYUN_ACCESS_KEY_ID", "ALIYUN_ACCESS_KEY_SECRET"
        )
    cred = _cli_profile(env, home if home is not None else Path(env.get("HOME") or Path.home()))
    if cred:
        return cred
    raise CredentialsError(MISSING_CREDENTIALS)


def _cli_profile(env: dict[str, str], home: Path) -> Credential | None:
    path = home / ".aliyun" / "config.json"
    shown = "~/.aliyun/config.json"
    wanted = env.get("ALIBABA_CLOUD_PROFILE", "").strip() or None
    if not path.is_file():
        if wanted:
            raise CredentialsError(f"ALIBABA_CLOUD_PROFILE={wanted} is set but {shown} does not exist")
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise CredentialsError(
            f"cannot read the aliyun CLI configuration {shown}: {type(e).__name__}"
        ) from None
    if not isinstance(doc, dict):
        raise CredentialsError(f"the aliyun CLI configuration {shown} is not a JSON object")
    name = wanted or doc.get("current") or "default"
    profiles = [p for p in doc.get("profiles") or [] if isinstance(p, dict)]
    profile = next((p for p in profiles if p.get("name") == name), None)
    if profile is None:
        if wanted:
            raise CredentialsError(f"profile {name!r} (ALIBABA_CLOUD_PROFILE) is not in {shown}")
        return None
    mode = profile.get("mode") or "AK"
    where = f"profile {name!r} in {shown}"
    ak, sk = str(profile.get("access_key_id") or ""), str(profile.get("access_key_secret") or "")
    if mode not in ("AK", "StsToken"):
        raise CredentialsError(
            f"{where} uses mode {mode}, which specrunner does not support: use mode AK or "
            "StsToken, or set ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET"
        )
    token = str(profile.get("sts_token") or "") or None
    if not ak or not sk or (mode == "StsToken" and not token):
        need = "access_key_id, access_key_secret" + (" and sts_token" if mode == "StsToken" else "")
        raise CredentialsError(f"{where} (mode {mode}) lacks {need}: run `aliyun configure --profile {name}`")
    return Credential(
        ak,
        sk,
        token if mode == "StsToken" else None,
        where,
        f"access_key_id of the {where}",
        f"access_key_secret of the {where}",
    )
