"""A store URL as it may be shown: in the start-up log, `--print-config`, an error message.

A PostgreSQL connection string can carry its password in three places: the URL's `user:password@`,
its query (`?password=...`, `?sslpassword=...`) and libpq's keyword form (`host=db password=...`).
Every one is masked here, so each place that shows a store URL asks this one function.
"""
from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from mock_server.redaction import MASK, Redactor

_NAMES = Redactor()  # password, sslpassword, ...: what libpq and URLs name their secrets


def shown_url(url: str) -> str:
    """`url` with every password in it replaced by `***`; what cannot be read is masked whole."""
    if url in ("", "memory") or url.startswith("sqlite:"):
        return url  # a path: nothing secret
    if "://" in url:
        return _shown_uri(url)
    return _shown_keywords(url)


def _shown_uri(url: str) -> str:
    try:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:  # e.g. a broken IPv6 host: nothing can be told apart safely
        return MASK
    # rpartition, as urllib and libpq read it: the last "@" ends the user and password.
    userinfo, at, hosts = parts.netloc.rpartition("@")
    user, colon, _password = userinfo.partition(":")
    netloc = f"{user}{':' + MASK if colon else ''}@{hosts}" if at else hosts
    shown = urlencode([(name, MASK if _NAMES.sensitive(name) else value) for name, value in query], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, shown, ""))  # no fragment: libpq reads none


def _shown_keywords(conninfo: str) -> str:
    """libpq's `host=db password=...` form, read and written by psycopg (quoting included)."""
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    try:
        params = conninfo_to_dict(conninfo)
    except ProgrammingError:  # not a connection string; it may still hold a password in some form
        return MASK if any(c in conninfo for c in "=@:") else conninfo
    return make_conninfo("", **{name: MASK if _NAMES.sensitive(name) else value for name, value in params.items()})
