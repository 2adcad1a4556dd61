"""Input discovery on OSS: ListObjectsV2 through the ``oss2`` SDK (signature V1).

``oss_lister(target)`` returns ``list_objects(bucket, location, prefix) -> sorted keys``, the lister
``specrunner.ops.context.discover_inputs`` expands ``{prefix, match}`` input entries with. Its clients
come from ``ossclient`` (endpoint, credentials, timeouts, proxies), its errors from the one OSS error
map (``osserrors``: CredentialsError, PermanentBackendError naming the bucket and the prefix being
listed, TransientBackendError), and a page's transient errors are retried by ``ossretry.LISTING``
(``attempts``, ``backoff``) before they are raised. Messages never carry the secret or the STS token.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import oss2

from specrunner.backends.credentials import Credential, resolve_credentials
from specrunner.backends.endpoints import Endpoint
from specrunner.backends.listing import Listed
from specrunner.backends.ossclient import CONNECT_TIMEOUT, READ_TIMEOUT, OssClients, endpoint_for
from specrunner.backends.osserrors import OssCall, oss_error
from specrunner.backends.ossretry import LISTING
from specrunner.core.errors import PermanentBackendError, TransientBackendError

PAGE_SIZE = 1000  # the most ListObjectsV2 returns per page

Lister = Callable[[str, str, str], list[str]]


class OssLister:
    """``lister(bucket, location, prefix)``: every object key under ``prefix``, sorted, all pages."""

    def __init__(
        self,
        credential: Credential,
        *,
        page_size: int = PAGE_SIZE,
        attempts: int = LISTING.attempts,
        backoff: float = LISTING.initial,  # seconds before the 2nd attempt, doubled after
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
    ) -> None:
        if not 1 <= page_size <= PAGE_SIZE:
            raise ValueError(f"page_size must be in [1, {PAGE_SIZE}]")
        self.credential = credential
        self.page_size = page_size
        self.retry = replace(LISTING, attempts=max(1, attempts), initial=backoff)
        self.clients = OssClients(credential, connect_timeout=connect_timeout, read_timeout=read_timeout)
        # What listings saw, (bucket, key) -> (size, ETag): input discovery's listing gives the inputs'
        # ETags at no extra cost (recorded at submission, compared by a refresh).
        self.seen: dict[tuple[str, str], tuple[int, str]] = {}

    @property
    def auth(self) -> Any:
        """How requests are signed (``oss2.Auth`` / ``StsAuth``); replaceable before the first call."""
        return self.clients.auth

    @auth.setter
    def auth(self, value: Any) -> None:
        self.clients.auth = value

    # ------------------------------------------------------------------ the lister

    def __call__(self, bucket: str, location: str, prefix: str) -> list[str]:
        return sorted({o.key for o in self.objects(bucket, location, prefix)})

    def start_after(
        self, bucket: str, location: str, prefix: str, after: str, until: str | None = None
    ) -> list[Listed]:
        """``objects`` from the first key after ``after`` (ListObjectsV2's ``start-after``)."""
        return self.objects(bucket, location, prefix, until, after=after)

    def objects(
        self, bucket: str, location: str, prefix: str, until: str | None = None, *, after: str = ""
    ) -> list[Listed]:
        """Every object under ``prefix`` (after ``after``) with its size and ETag, in key order; with
        ``until``, the pages stop once a page reaches past that key (the objects after it may be
        missing)."""
        ep = endpoint_for(location)
        where = f"oss://{bucket}/{prefix}"
        client = self._bucket(bucket, ep, where)
        found: list[Listed] = []
        token = ""
        seen: set[str] = set()
        while True:
            result = self._page(client, ep, where, bucket, prefix, token, "" if token else after)
            for o in result.object_list:
                item = Listed(o.key, int(o.size or 0), str(o.etag or "").strip('"').upper())
                found.append(item)
                self.seen[(bucket, o.key)] = (item.size, item.etag)
            if not result.is_truncated or (until is not None and found and found[-1].key >= until):
                break
            token = result.next_continuation_token or ""
            if not token or token in seen:
                raise TransientBackendError(
                    f"cannot list {where}: OSS at {ep.url} answered a truncated page "
                    "without a new continuation token",
                    code="BadAnswer",
                )
            seen.add(token)
        return found

    def close(self) -> None:
        self.clients.close()

    # ------------------------------------------------------------------ one request

    def _bucket(self, bucket: str, ep: Endpoint, where: str) -> oss2.Bucket:
        try:
            return self.clients.bucket(bucket, ep)
        except PermanentBackendError as e:
            raise PermanentBackendError(
                f"cannot list {where}: {e} (3-63 characters: lowercase letters, digits, hyphens)",
                code=e.code,
            ) from None

    def _page(
        self,
        client: oss2.Bucket,
        ep: Endpoint,
        where: str,
        bucket: str,
        prefix: str,
        token: str,
        after: str = "",
    ) -> Any:
        call = OssCall(ep, bucket, where, self.credential)
        return self.retry.call(
            lambda: client.list_objects_v2(
                prefix=prefix, continuation_token=token, start_after=after, max_keys=self.page_size
            ),
            lambda e: oss_error(e, call),
        )


class OssObjects:
    """An ``OssLister`` as a ``listing.ObjectsLister``: objects with sizes and ETags (the refresh)."""

    def __init__(self, lister: OssLister) -> None:
        self.lister = lister

    def __call__(self, bucket: str, location: str, prefix: str, until: str | None = None) -> list[Listed]:
        return self.lister.objects(bucket, location, prefix, until)

    def start_after(
        self, bucket: str, location: str, prefix: str, after: str, until: str | None = None
    ) -> list[Listed]:
        return self.lister.start_after(bucket, location, prefix, after, until)

    def close(self) -> None:
        self.lister.close()


def oss_lister(target: Any = None, **options: Any) -> OssLister:
    """The OSS lister for a manifest's target (credentials from the environment / aliyun CLI profile)."""
    return OssLister(resolve_credentials(), **options)


__all__ = ["OssLister", "OssObjects", "oss_lister"]
