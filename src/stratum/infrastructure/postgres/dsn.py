"""Turn a ``postgresql://`` URL into the library's settings (it takes no DSN)."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit


def library_env(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    if parts.scheme.split("+")[0] not in ("postgresql", "postgres"):
        raise ValueError(f"not a PostgreSQL URL: {parts.scheme}://…")
    query = parse_qs(parts.query)
    # A unix socket directory may come as ?host=/path (as pgserver gives it).
    host = query.get("host", [parts.hostname or "localhost"])[0]
    return {
        "POSTGRES_DBNAME": unquote(parts.path.lstrip("/")) or "postgres",
        "POSTGRES_HOST": host,
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
    }


def with_database(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return parts._replace(path="/" + dbname).geturl()
