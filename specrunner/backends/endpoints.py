"""Service endpoints (MTS and OSS): ``scheme://host[:port]``, parsed once, and which proxy applies.

Proxies: the MTS SDK (aliyunsdkcore's vendored requests session, called with explicit proxies)
ignores NO_PROXY, so ``proxies_for`` works it out: no proxy for a loopback or NO_PROXY host, else the
SDK's environment default. oss2's session is a plain requests session that follows the environment
itself (NO_PROXY included); only a loopback endpoint is taken out of it (``ossclient``).
"""

from __future__ import annotations

import ipaddress
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from specrunner.core.errors import PermanentBackendError


@dataclass(frozen=True)
class Endpoint:
    scheme: str  # http | https
    netloc: str  # host[:port]
    host: str

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.netloc}"

    @property
    def loopback(self) -> bool:
        h = self.host.lower().rstrip(".")
        if h == "localhost" or h.endswith(".localhost"):
            return True
        try:
            return ipaddress.ip_address(h).is_loopback
        except ValueError:
            return False


def parse_endpoint(value: str, source: str, *, service: str = "MTS") -> Endpoint:
    """``http://host:port``, ``https://host`` or ``host[:port]`` (https); ``service`` names it in errors."""
    v = value.strip()
    if "://" not in v:
        v = "https://" + v
    netloc = v.partition("://")[2].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    if "@" in netloc:  # user info: a password may be in it (an environment variable's): never shown
        shown = v.replace(netloc, "***@" + netloc.rpartition("@")[2], 1)
        raise PermanentBackendError(
            f"{source}: invalid {service} endpoint {shown!r}: user info (user:password@) is not "
            "allowed: use https://host or http://host:port",
            code="InvalidEndpoint",
        )
    bad = PermanentBackendError(
        f"{source}: invalid {service} endpoint {value!r}: use https://host or http://host:port",
        code="InvalidEndpoint",
    )
    try:
        parts = urlsplit(v)
        host = parts.hostname or ""
        _ = parts.port  # validates the port
    except ValueError:
        raise bad from None
    if (
        parts.scheme.lower() not in ("http", "https")
        or not host
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or "@" in parts.netloc  # user info (refused above): the host would not be what the SDK signs for
    ):
        raise bad
    return Endpoint(parts.scheme.lower(), parts.netloc, host)


def proxies_for(ep: Endpoint) -> dict[str, None] | None:
    """No proxy for loopback or NO_PROXY hosts (the SDK ignores NO_PROXY); else the SDK's env default."""
    if ep.loopback:
        return {"http": None, "https": None}
    try:
        proxies = urllib.request.getproxies_environment()
        # Undocumented, so typeshed omits it; present in every Python 3.
        bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
        if proxies and bypass(ep.host, proxies):
            return {"http": None, "https": None}
    except Exception:  # pragma: no cover - malformed NO_PROXY
        pass
    return None
