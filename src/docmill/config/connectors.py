"""Settings of the source connectors (`ingest.connectors`): one model per connector type.

Credentials are never values here: they come from environment variables named by `*_env` fields, or from
`NAME=value` lines in a `secrets_file` (a path; the file itself is not part of the configuration).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Connector(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        pattern=r"^[A-Za-z0-9_.-]+$", description="Unique name: in messages and in the flow's `sources` parameter."
    )
    include: list[str] = Field(default_factory=lambda: ["**/*"], description="Globs an item id must match.")
    exclude: list[str] = Field(default_factory=list, description="Globs that skip an item.")
    secrets_file: Path | None = Field(
        None, description="File of `NAME=value` lines consulted for the `*_env` names missing from the environment."
    )
    retries: int = Field(4, ge=1, description="Attempts on transient errors (connection refused, timeouts, 5xx).")
    retry_delay_s: float = Field(0.5, ge=0, description="First backoff delay; doubled on every further attempt.")


class FolderConnectorConfig(_Connector):
    """A local folder or mounted share, like an `ingest.sources` entry but with its own globs."""

    type: Literal["folder"] = Field(description="`folder`.")
    path: Path = Field(description="The folder, walked recursively.")


class S3ConnectorConfig(_Connector):
    """An S3-compatible bucket (AWS S3, MinIO, Ceph RGW)."""

    type: Literal["s3"] = Field(description="`s3`.")
    bucket: str = Field(description="Bucket name.")
    prefix: str = Field("", description="Only keys starting with this prefix; globs match the key after it.")
    endpoint_url: str | None = Field(None, description="S3 API endpoint for MinIO/Ceph, e.g. `http://minio:9000`.")
    region: str | None = Field(None, description="Region name (some stores require one).")
    access_key_env: str = Field("AWS_ACCESS_KEY_ID", description="Environment variable holding the access key id.")
    secret_key_env: str = Field(
        "AWS_SECRET_ACCESS_KEY", description="Environment variable holding the secret access key."
    )
    page_size: int = Field(1000, ge=1, le=1000, description="Keys per listing request.")

    @field_validator("endpoint_url")
    @classmethod
    def _no_credentials(cls, value: str | None) -> str | None:
        if value and re.search(r"://[^/@]+@", value):
            raise ValueError("endpoint_url must not contain credentials: use access_key_env/secret_key_env")
        return value


class SqlConnectorConfig(_Connector):
    """A table or query through SQLAlchemy: one document per row."""

    type: Literal["sql"] = Field(description="`sql`.")
    url_env: str = Field(
        description="Environment variable (or secrets-file name) holding the SQLAlchemy URL, password included, "
        "e.g. `postgresql+psycopg://docmill:...@db/docs`."
    )
    table: str | None = Field(None, description="Table to read (or give `query`).")
    query: str | None = Field(None, description="A query whose rows are the documents (instead of `table`).")
    id_column: str = Field("id", description="Stable, unique row id.")
    text_column: str | None = Field(None, description="Column with the document text (one of text/blob/path).")
    blob_column: str | None = Field(None, description="Column with the document bytes (e.g. a PDF).")
    path_column: str | None = Field(None, description="Column with a local file path to the document bytes.")
    name_column: str | None = Field(None, description="Column with a file name (its extension picks the parser).")
    extension: str = Field(".txt", description="File extension when there is no `name_column` (`.txt`, `.pdf`).")
    updated_at_column: str | None = Field(
        None, description="Row version or update time: listing reads only ids and this; rows are fetched on change."
    )
    metadata_columns: list[str] = Field(
        default_factory=list,
        description="Columns carried as chunk metadata (a column named like a key docmill writes itself, "
        "e.g. `title` or `source_uri`, as `source_<name>`).",
    )

    @model_validator(mode="after")
    def _one_of(self) -> SqlConnectorConfig:
        if (self.table is None) == (self.query is None):
            raise ValueError(f"sql connector {self.name}: give exactly one of table or query")
        if sum(c is not None for c in (self.text_column, self.blob_column, self.path_column)) != 1:
            raise ValueError(f"sql connector {self.name}: give exactly one of text_column, blob_column, path_column")
        return self


class MailboxConnectorConfig(_Connector):
    """An mbox file or a Maildir folder: every message is a document (.eml), attachments become children."""

    type: Literal["mbox", "maildir"] = Field(description="`mbox` or `maildir`.")
    path: Path = Field(description="The mbox file or the Maildir folder.")


ConnectorConfig = Annotated[
    FolderConnectorConfig | S3ConnectorConfig | SqlConnectorConfig | MailboxConnectorConfig,
    Field(discriminator="type"),
]
CONNECTOR_MODELS: tuple[type[BaseModel], ...] = (
    FolderConnectorConfig,
    S3ConnectorConfig,
    SqlConnectorConfig,
    MailboxConnectorConfig,
)
