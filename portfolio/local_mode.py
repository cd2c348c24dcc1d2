"""Local mode: who may use the app when no sign-in is configured, and whether sign-in is usable.

Without an ``[auth]`` table in ``.streamlit/secrets.toml`` the app runs in *local mode*: the
person at the machine is the local user with administrator rights. That is only safe while
the browser runs on the same machine, so every request is checked here before any page:

* its TCP peer must be a loopback address (``127.0.0.0/8``, ``::1``); an unknown peer is
  refused, because it cannot be shown to be local;
* it must carry no proxy header (``X-Forwarded-For``, ``X-Real-IP``, ``Forwarded``, ``Via``,
  any ``X-Forwarded-*`` …): behind a reverse proxy every request arrives from 127.0.0.1,
  so a proxied request is refused whatever address the header names;
* a browser's ``Origin`` must name this machine (``localhost`` or a loopback address): a page
  opened as ``https://portfolio.example.gov.cn`` through a proxy that adds no header, a page of
  another site opening a WebSocket to ``localhost``, or a DNS name rebound to 127.0.0.1 all
  send a foreign Origin.

``PORTFOLIO_READ_ONLY=1`` (``portfolio serve --read-only``) opens the app to the network with
every visitor a viewer instead. An ``[auth]`` table that is present but unusable is reported
by :func:`auth_problems`; the app stops on it rather than falling back to local mode.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from . import i18n

#: The environment variable that makes every visitor a viewer (``portfolio serve --read-only``).
READ_ONLY_ENV = "PORTFOLIO_READ_ONLY"
#: Keys the ``[auth]`` table needs for ``st.login()`` with the default provider.
AUTH_KEYS = ("redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url")
#: Shortest accepted cookie secret (the key that signs the sign-in cookie).
MIN_COOKIE_SECRET = 32
#: The placeholder of .streamlit/secrets.example.toml: public, so never a secret.
EXAMPLE_COOKIE_SECRET = "change-me-to-a-long-random-string"
#: Headers a proxy adds; any of them means the request did not come straight from a browser.
PROXY_HEADERS = frozenset({
    "forwarded", "x-real-ip", "via", "x-client-ip", "true-client-ip", "cf-connecting-ip",
    "x-cluster-client-ip", "fastly-client-ip", "x-original-forwarded-for",
})
#: Why a request is refused in local mode (each has a label ``local.reason.<code>``).
REASONS = ("unknown", "remote", "proxy", "origin")

_FALSE = {"", "0", "false", "no", "off"}


@dataclass(frozen=True)
class Client:
    """One browser connection: its TCP peer (None when unknown) and handshake headers."""

    address: str | None
    headers: tuple[tuple[str, str], ...] = ()


def is_loopback(address: str | None) -> bool:
    """True when ``address`` is a loopback IP (127.0.0.0/8, ::1, ::ffff:127.x); False otherwise."""
    if not address:
        return False
    text = address.strip()
    if text.startswith("[") and "]" in text:  # [::1] or [::1]:8501
        text = text[1:text.index("]")]
    text = text.split("%", 1)[0]  # IPv6 zone id
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def _origin_is_local(origin: str) -> bool:
    try:
        host = urlsplit(origin.strip()).hostname
    except ValueError:
        return False
    if not host:  # "null" (sandboxed frame, file://) or garbage
        return False
    host = host.lower().rstrip(".")
    return host == "localhost" or host.endswith(".localhost") or is_loopback(host)


def refusal_reason(client: Client) -> str | None:
    """Why ``client`` may not use the app in local mode (a code of REASONS), or None if it may.

    Fails closed: only a direct, loopback, same-origin connection is local.
    """
    names = {name.strip().lower() for name, value in client.headers if value.strip()}
    if client.address is None or not client.address.strip():
        return "unknown"
    if not is_loopback(client.address):
        return "remote"
    if names & PROXY_HEADERS or any(n.startswith("x-forwarded-") for n in names):
        return "proxy"
    origins = [value for name, value in client.headers if name.strip().lower() == "origin"]
    if any(not _origin_is_local(o) for o in origins):
        return "origin"
    return None


def read_only(environ: Mapping[str, str]) -> bool:
    """True when ``PORTFOLIO_READ_ONLY`` asks for read-only; an unrecognised value counts as yes."""
    value = environ.get(READ_ONLY_ENV, "").strip().lower()
    return value not in _FALSE


def binds_loopback_only(address: str) -> bool:
    """True when a server bound to ``address`` is reachable from this machine only.

    ``0.0.0.0``, ``::`` and an empty address listen on every interface; a host name counts as
    loopback only when every address it resolves to is loopback (an unresolvable name does not).
    """
    text = address.strip().strip("[]")
    if not text:
        return False
    if text.lower() == "localhost":
        return True
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        try:
            infos = socket.getaddrinfo(text, None)
        except (OSError, UnicodeError):
            return False
        found = {str(info[4][0]) for info in infos}
        return bool(found) and all(is_loopback(a) for a in found)
    return is_loopback(text)


# ---------------------------------------------------------------- the [auth] table
@dataclass(frozen=True)
class AuthProblem:
    """One reason the ``[auth]`` table cannot be used: the key and a code (label ``local.auth.<code>``)."""

    key: str
    code: str

    def sentence(self, lang: str = i18n.DEFAULT_LANG) -> str:
        """The problem as one sentence in ``lang``."""
        return i18n.t(f"local.auth.{self.code}", lang, key=self.key, n=MIN_COOKIE_SECRET)


def _is_url(text: str) -> bool:
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return parts.scheme in {"http", "https"} and bool(parts.hostname)


def auth_problems(section: object) -> list[AuthProblem]:
    """Every reason the ``[auth]`` table ``section`` cannot sign anyone in; empty when usable."""
    if not isinstance(section, Mapping):
        return [AuthProblem("auth", "not_table")]
    problems: list[AuthProblem] = []
    usable: dict[str, str] = {}
    for key in AUTH_KEYS:
        value = section.get(key)
        if value is None:
            problems.append(AuthProblem(key, "missing"))
        elif not isinstance(value, str) or not value.strip():
            problems.append(AuthProblem(key, "empty"))
        else:
            usable[key] = value.strip()
    secret = usable.get("cookie_secret")
    if secret == EXAMPLE_COOKIE_SECRET:
        problems.append(AuthProblem("cookie_secret", "example"))
    elif secret is not None and len(secret) < MIN_COOKIE_SECRET:
        problems.append(AuthProblem("cookie_secret", "short"))
    for key in ("redirect_uri", "server_metadata_url"):
        if key in usable and not _is_url(usable[key]):
            problems.append(AuthProblem(key, "not_url"))
    redirect = usable.get("redirect_uri")
    if redirect and _is_url(redirect) and not urlsplit(redirect).path.rstrip("/").endswith("/oauth2callback"):
        problems.append(AuthProblem("redirect_uri", "callback"))
    return problems


class SecretsUnreadable(ValueError):
    """A secrets file exists but cannot be read or is not valid TOML."""


def secrets_paths(*, app_dir: Path, cwd: Path, home: Path) -> list[Path]:
    """Where Streamlit looks for secrets.toml by default, later files overriding earlier ones."""
    paths = [home / ".streamlit" / "secrets.toml", cwd / ".streamlit" / "secrets.toml",
             app_dir / ".streamlit" / "secrets.toml"]
    return list(dict.fromkeys(p.resolve() for p in paths))


def load_auth_section(paths: Sequence[Path]) -> object | None:
    """The merged ``[auth]`` value of the secrets files (None without one), as Streamlit reads it.

    Raises :class:`SecretsUnreadable` when a file exists but cannot be read or parsed: the app
    would not find its sign-in settings either.
    """
    return load_secrets_section(paths, "auth")


def load_secrets_section(paths: Sequence[Path], name: str, *, what: str = "登录设置") -> object | None:
    """The merged ``[name]`` value of the secrets files (None without one), later files overriding.

    ``what`` names the settings in the :class:`SecretsUnreadable` sentence (``[mail]``: 邮件设置).
    """
    merged: dict[str, object] = {}
    for path in paths:
        if not path.exists():
            continue
        try:
            merged.update(tomllib.loads(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            reason = re.sub(r"\s+", " ", str(exc)).strip()
            raise SecretsUnreadable(
                f"无法读取{what}文件 {path}：{reason}（cannot read the secrets file）。"
            ) from exc
    return merged.get(name)


def describe(problems: Iterable[AuthProblem], lang: str = i18n.DEFAULT_LANG) -> str:
    """The problems as one line of sentences."""
    return " ".join(p.sentence(lang) for p in problems)
