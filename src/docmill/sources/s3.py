"""S3-compatible object stores (AWS S3, MinIO, Ceph RGW) through boto3: bucket + prefix, globs, paginated
listing, etags as version markers. Source URIs are `s3://<bucket>/<key>` (never credentials)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

from docmill.config.connectors import S3ConnectorConfig
from docmill.config.globs import selected
from docmill.isolation import steps
from docmill.records import FileItem, Reject
from docmill.sources.base import ItemError, Retry, SourceUnavailable, read_secret

_THROTTLE = {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "ServiceUnavailable", "InternalError"}
_DENIED = {"AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"}


def transient(exc: BaseException) -> bool:
    """Connection failures, timeouts, throttling and 5xx answers are worth another attempt."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    if isinstance(exc, ConnectionError | HTTPClientError):
        return True
    if isinstance(exc, ClientError):
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return status >= 500 or exc.response.get("Error", {}).get("Code") in _THROTTLE
    return False


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", "unknown"))


class S3Source:
    """Objects under `s3://bucket/prefix` whose key (after the prefix) matches the globs."""

    local = False

    def __init__(self, cfg: S3ConnectorConfig) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.scope = f"s3://{cfg.bucket}/{quote(cfg.prefix)}"
        self._key = read_secret(cfg.access_key_env, cfg.secrets_file)
        self._secret = read_secret(cfg.secret_key_env, cfg.secrets_file)
        self.retry = Retry(cfg.name, transient, cfg.retries, cfg.retry_delay_s, (self._secret or "", self._key or ""))
        self._client: Any = None

    @property
    def client(self) -> Any:
        """The boto3 client (created on first use; botocore's own retries are off: ours apply)."""
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.session.Session().client(
                "s3",
                endpoint_url=self.cfg.endpoint_url,
                region_name=self.cfg.region or "us-east-1",
                aws_access_key_id=self._key,
                aws_secret_access_key=self._secret,
                config=Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=60),
            )
        return self._client

    def list_items(self) -> Iterator[FileItem | Reject]:
        """Every object in scope, one listing page (up to `page_size` keys) at a time.

        Raises:
            SourceUnavailable: unreachable after retries, or the bucket refuses the listing.
        """
        from botocore.exceptions import ClientError

        args: dict[str, Any] = {"Bucket": self.cfg.bucket, "Prefix": self.cfg.prefix, "MaxKeys": self.cfg.page_size}
        while True:
            try:
                page = self.retry("listing", lambda: self.client.list_objects_v2(**args))
            except ClientError as exc:
                raise SourceUnavailable(
                    f"source {self.name!r}: listing s3://{self.cfg.bucket}/{self.cfg.prefix} refused: {_code(exc)}"
                ) from None
            for obj in page.get("Contents", []):  # one object that cannot be listed is its reject alone
                who = steps.Item(source_uri=f"s3://{self.cfg.bucket}/{quote(str(obj.get('Key', '')))}")
                outcome = steps.attempt("ingest", "list", who, partial(self._item, obj))
                if outcome is not None:
                    yield steps.reject_of(outcome) if isinstance(outcome, steps.Failure) else outcome
            if not page.get("IsTruncated"):
                return
            args["ContinuationToken"] = page["NextContinuationToken"]

    def _item(self, obj: dict[str, Any]) -> FileItem | None:
        """One listed object as an item, or None when the globs leave it out (or it is a folder marker)."""
        key: str = obj["Key"]
        relative = key[len(self.cfg.prefix) :].lstrip("/")
        if key.endswith("/") or not selected(relative, self.cfg.include, self.cfg.exclude):
            return None
        uri = f"s3://{self.cfg.bucket}/{quote(key)}"
        etag = str(obj.get("ETag", "")).strip('"')
        return FileItem(uri, "", key, int(obj["Size"]), obj["LastModified"].timestamp(), etag)

    def fetch(self, item: FileItem, dest: Path) -> None:
        """Stream one object to `dest`.

        Raises:
            ItemError: `permission_denied` or `fetch_failed` (e.g. deleted since the listing).
            SourceUnavailable: the store went away.
        """
        from botocore.exceptions import ClientError

        def download() -> None:
            body = self.client.get_object(Bucket=self.cfg.bucket, Key=item.relative)["Body"]
            with dest.open("wb") as out:
                for block in body.iter_chunks(1 << 20):
                    out.write(block)

        try:
            self.retry(f"fetching {item.source_uri}", download)
        except ClientError as exc:
            reason = "permission_denied" if _code(exc) in _DENIED else "fetch_failed"
            raise ItemError(reason, f"{item.source_uri}: {_code(exc)}") from None

    def close(self) -> None:
        """Close the HTTP connections."""
        if self._client is not None:
            self._client.close()
            self._client = None
