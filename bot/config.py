"""Read and check the TOML configuration; every mistake is reported with its file and key."""

from __future__ import annotations

import ipaddress
import os
import re
import sqlite3
import tomllib
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

# DATA_KEY_ENV: a Fernet key (or "NEW,OLD" while replacing one) for contacts at rest.
from bot.sealing import DATA_KEY_ENV, parse_data_key, secure_database_file
from bot.workdays import working_day_problem

TOKEN_ENV = "LIEMCHINH_TOKEN"

DEFAULT_BASE_URL = "https://api.telegram.org/bot"
DEFAULT_BASE_FILE_URL = "https://api.telegram.org/file/bot"
LOCALES = ("vi", "en")
# Unit codes travel inside callback_data (64 bytes at most), so they stay short and plain.
UNIT_CODE = r"[A-Za-z0-9_.-]{1,24}"
# \A…\Z, not ^…$: "$" also matches before a final newline, which would let "HL\n" in.
UNIT_CODE_RE = re.compile(rf"\A{UNIT_CODE}\Z")
# fromisoformat alone would also take "20260101" or "2026-W01-4"; dates are written one way.
_ISO_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Inclusive bounds of each `[sla]` integer: wide enough for any real policy, narrow enough to
# catch a slip such as hours written where days were meant.
_SLA_RANGES: dict[str, tuple[int, int]] = {
    "acknowledge_working_days": (1, 30),
    "resolve_days": (1, 365),
    "extension_max_days": (0, 365),
    "reopen_days": (0, 90),
    "remind_hours_before": (1, 168),
}

# Inclusive bounds of each `[privacy]` period, in days.
_PRIVACY_RANGES: dict[str, tuple[int, int]] = {
    "reporter_link_days": (0, 3650),
    "draft_days": (1, 365),
}

_SECTIONS: dict[str, set[str]] = {
    "telegram": {
        "token",
        "base_url",
        "base_file_url",
        "messages_per_second",
        "pace_private_chats",
        "proxy",
    },
    "storage": {"database", "state_dir"},
    "bot": {
        "admins",
        "default_locale",
        "reports_per_day",
        "weekly_digest",
        "flood_messages",
        "flood_seconds",
    },
    "sla": {*_SLA_RANGES, "extra_days_off", "working_days", "holidays"},
    "privacy": set(_PRIVACY_RANGES),
    "webhook": {"listen", "port", "url", "secret_token"},
    "web": {"enabled", "listen", "port", "public_url", "board_min_reports"},
    "zalo": {
        "token",
        "base_url",
        "mode",
        "webhook_url",
        "secret_token",
        "messages_per_second",
        "seconds_per_user",
        "media_url",
    },
    "ops": {"enabled", "ready_intake_seconds", "ready_outbox_minutes"},
}
# The proxy schemes the Bot API transport speaks (bot/telegram/transport.py): HTTP and HTTPS
# through aiohttp, SOCKS5 through aiohttp-socks (`socks5h`: the proxy resolves the name).
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
_UNIT_KEYS = {"code", "name", "parent", "chat_id", "officers"}


class ConfigError(Exception):
    """A configuration problem, worded for the operator who must fix it."""

    def __init__(self, path: Path | str, key: str, message: str) -> None:
        self.path = str(path)
        self.key = key
        self.message = message
        super().__init__(f"{self.path}: {key}: {message}")


@dataclass(frozen=True)
class UnitConfig:
    """One unit as seeded from `[[units]]`."""

    code: str
    name: str
    parent: str | None = None
    chat_id: int | None = None
    officers: tuple[int, ...] = ()


@dataclass(frozen=True)
class SlaConfig:
    """The units' service-level deadlines, as read from `[sla]`."""

    # Working days the unit has to acknowledge (accept) a report after receiving it.
    acknowledge_working_days: int = 3
    # Calendar days from acknowledgement to resolution: the Law on Denunciation 2018 (art. 30)
    # allows 30 days from acceptance.
    resolve_days: int = 30
    # The longest single extension; the same article allows one of at most 30 days.
    extension_max_days: int = 30
    # Days after resolution during which the citizen may answer "not resolved".
    reopen_days: int = 7
    remind_hours_before: int = 24
    # Public holidays are computed (bot.workdays); these are the government's yearly
    # arrangement, which overrides them: days given off, and days worked (a weekend day, or a
    # holiday moved). No date is in both.
    extra_days_off: frozenset[date] = frozenset()
    working_days: frozenset[date] = frozenset()


WEBHOOK_SECRET_ENV = "LIEMCHINH_WEBHOOK_SECRET"
# Telegram allows 1-256 characters of A-Z, a-z, 0-9, _ and - in a webhook's secret token.
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


@dataclass(frozen=True)
class WebhookConfig:
    """What Telegram is told to call in `liemchinh run --webhook`.

    `listen` and `port` are the address of the webhook's former server of its own: the one
    server now listens on `[web]`'s, which falls back to these when `[web]` gives none.
    """

    url: str | None = None
    secret_token: str | None = None
    listen: str = "127.0.0.1"
    port: int = 8443

    @property
    def path(self) -> str:
        """Return the URL's path, which the local server answers on."""
        rest = (self.url or "").split("://", 1)[-1]
        return "/" + rest.split("/", 1)[1] if "/" in rest else "/"


@dataclass(frozen=True)
class WebConfig:
    """The citizens' web pages, as read from `[web]`."""

    enabled: bool = False
    listen: str = "127.0.0.1"
    port: int = 8080
    # The address citizens open; an https:// one makes the session cookie Secure.
    public_url: str | None = None
    # A unit appears on the public board only with this many reports in the period.
    board_min_reports: int = 5

    @property
    def secure(self) -> bool:
        """Tell whether the pages are served to citizens over HTTPS."""
        return (self.public_url or "").startswith("https://")


ZALO_TOKEN_ENV = "LIEMCHINH_ZALO_TOKEN"
ZALO_SECRET_ENV = "LIEMCHINH_ZALO_SECRET"
DEFAULT_ZALO_BASE_URL = "https://bot-api.zaloplatforms.com"
# Zalo's documentation gives the secret token 8 to 256 characters; the same safe alphabet as
# Telegram's keeps it a plain header value.
_ZALO_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{8,256}$")


@dataclass(frozen=True)
class ZaloConfig:
    """The Zalo channel, as read from `[zalo]` (docs/channels.md says what was verified)."""

    token: str
    base_url: str = DEFAULT_ZALO_BASE_URL
    # "polling" (getUpdates) or "webhook" (Zalo posts to webhook_url).
    mode: str = "polling"
    webhook_url: str | None = None
    secret_token: str | None = None
    # Zalo documents no sending rate: conservative defaults, overall and per person.
    messages_per_second: float = 5.0
    seconds_per_user: float = 1.0
    # The public address of the web server ([web] listen:port) under which Zalo fetches the
    # photos units send (sendPhoto takes only a URL); None: they are announced in words.
    media_url: str | None = None

    @property
    def media_path(self) -> str:
        """Return the media URL's path, which the local server answers on."""
        rest = (self.media_url or "").split("://", 1)[-1]
        return "/" + rest.split("/", 1)[1] if "/" in rest else ""

    @property
    def webhook(self) -> bool:
        """Tell whether Zalo posts updates (else they are polled)."""
        return self.mode == "webhook"

    @property
    def path(self) -> str:
        """Return the webhook URL's path, which the local server answers on."""
        rest = (self.webhook_url or "").split("://", 1)[-1]
        return "/" + rest.split("/", 1)[1] if "/" in rest else "/"


@dataclass(frozen=True)
class OpsConfig:
    """The operator's endpoints (/healthz, /readyz, /metrics), as read from `[ops]`."""

    enabled: bool = False
    # Ready only if Telegram answered a poll (or sent a webhook request) this recently.
    ready_intake_seconds: int = 120
    # Ready only if nothing owed has waited in the outbox longer than this.
    ready_outbox_minutes: int = 15


@dataclass(frozen=True)
class PrivacyConfig:
    """How long personal data is kept, as read from `[privacy]`."""

    # Days after an anonymous report closes (resolved or declined) until the link between it
    # and its sender's Telegram account is deleted; 0 deletes it at the next hourly run.
    reporter_link_days: int = 30
    # Days without an answer after which an unfinished report is deleted with its evidence.
    draft_days: int = 30


@dataclass(frozen=True)
class Settings:
    """Everything the bot reads from its configuration file."""

    path: Path
    token: str | None
    # The SQLite file; with PostgreSQL (`database_url`), the stem of the files a SQLite
    # database keeps beside it (the keys), in `[storage] state_dir`.
    database: Path
    base_url: str = DEFAULT_BASE_URL
    base_file_url: str = DEFAULT_BASE_FILE_URL
    # Telegram's overall limit is about 30 messages a second; bots with paid broadcasts may
    # send up to 1000.
    messages_per_second: int = 29
    admins: frozenset[int] = frozenset()
    default_locale: str = "vi"
    # New reports one person may send in 24 hours: a guard against flooding a unit.
    reports_per_day: int = 5
    # Every Monday the top units' chats and the admins get last week's figures and chart.
    weekly_digest: bool = False
    # A person sending more than `flood_messages` messages in `flood_seconds` seconds is told
    # once and not read for a minute, so that one person cannot hold up everyone else.
    flood_messages: int = 20
    flood_seconds: int = 10
    units: tuple[UnitConfig, ...] = field(default_factory=tuple)
    sla: SlaConfig = field(default_factory=SlaConfig)
    webhook: WebhookConfig = field(default_factory=WebhookConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    web: WebConfig = field(default_factory=WebConfig)
    ops: OpsConfig = field(default_factory=OpsConfig)
    # Every Bot API call and file download goes through this proxy when set
    # ("socks5://host:port", "http://host:port"; credentials may be in it, never logged).
    proxy: str | None = None
    # The Zalo channel; None when no Zalo token is configured.
    zalo: ZaloConfig | None = None
    # How long a reply to a person keeps trying through 429s and outages (bot.telegram.limits);
    # not a configuration key: tests shorten it.
    reply_patience: float = 30.0
    # Whether private chats are paced at about a message a second, as Telegram asks; not a
    # configuration key: the end-to-end tests, like paid broadcasts for the overall rate,
    # run without it (tests/test_limits.py checks the pacing itself).
    pace_private_chats: bool = True
    # `[storage] database = "postgresql://..."`: PostgreSQL instead of the SQLite file.
    database_url: str | None = None

    @property
    def database_label(self) -> str:
        """Name the database for people: the file, or the URL without its password."""
        return redact_url(self.database_url) if self.database_url else str(self.database)


def load_settings(path: Path | str, *, require_token: bool = True) -> Settings:
    """Load `path`, apply the environment override and check every key."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(path, "file", "not found") from None
    except OSError as exc:
        raise ConfigError(path, "file", f"cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(path, "file", "is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "file", f"is not valid TOML ({exc})") from None
    return parse_settings(raw, path, require_token=require_token)


def parse_settings(raw: Mapping[str, Any], path: Path, *, require_token: bool = True) -> Settings:
    """Turn a decoded TOML document into checked settings."""
    for key, value in raw.items():
        if key == "units":
            continue
        if key not in _SECTIONS:
            raise ConfigError(path, key, "unknown section")
        if not isinstance(value, dict):
            raise ConfigError(path, key, "must be a table, written [" + key + "]")
        for sub in value:
            if sub not in _SECTIONS[key]:
                raise ConfigError(path, f"{key}.{sub}", "unknown key")

    telegram = raw.get("telegram", {})
    token = os.environ.get(TOKEN_ENV) or _opt_str(telegram, "token", path, "telegram")
    if require_token and not token:
        raise ConfigError(
            path, "telegram.token", f"missing: set it in the file or in the {TOKEN_ENV} variable"
        )
    base_url = _opt_str(telegram, "base_url", path, "telegram") or DEFAULT_BASE_URL
    base_file_url = _opt_str(telegram, "base_file_url", path, "telegram") or DEFAULT_BASE_FILE_URL
    rate = telegram.get("messages_per_second", 29)
    if isinstance(rate, bool) or not isinstance(rate, int) or not 1 <= rate <= 1000:
        raise ConfigError(
            path, "telegram.messages_per_second", "must be a whole number from 1 to 1000"
        )
    pace = telegram.get("pace_private_chats", True)
    if not isinstance(pace, bool):
        raise ConfigError(path, "telegram.pace_private_chats", "must be true or false")

    proxy = _parse_proxy(telegram, path)

    storage = raw.get("storage", {})
    database = _opt_str(storage, "database", path, "storage")
    if not database:
        raise ConfigError(path, "storage.database", "missing: give the SQLite file's path")
    database_url, db_path = _parse_database(storage, database, path)

    bot = raw.get("bot", {})
    admins = _int_list(bot.get("admins", []), path, "bot.admins")
    locale = bot.get("default_locale", "vi")
    if locale not in LOCALES:
        raise ConfigError(path, "bot.default_locale", f"must be one of {', '.join(LOCALES)}")

    per_day = bot.get("reports_per_day", 5)
    if isinstance(per_day, bool) or not isinstance(per_day, int) or not 1 <= per_day <= 100:
        raise ConfigError(path, "bot.reports_per_day", "must be a whole number from 1 to 100")
    digest = bot.get("weekly_digest", False)
    if not isinstance(digest, bool):
        raise ConfigError(path, "bot.weekly_digest", "must be true or false")
    flood_messages = _bot_number(bot, "flood_messages", 20, (1, 1000), path)
    flood_seconds = _bot_number(bot, "flood_seconds", 10, (1, 3600), path)

    units = _parse_units(raw.get("units", []), path)
    sla = _parse_sla(raw.get("sla", {}), path)
    webhook = _parse_webhook(raw.get("webhook", {}), path)
    privacy = _parse_privacy(raw.get("privacy", {}), path)
    web = _parse_web(raw.get("web", {}), raw.get("webhook", {}), path)
    ops = _parse_ops(raw.get("ops", {}), path)
    zalo = _parse_zalo(raw.get("zalo", {}), path)
    _check_data_key(path)
    return Settings(
        path=path,
        token=token,
        database=db_path,
        database_url=database_url,
        base_url=base_url,
        base_file_url=base_file_url,
        messages_per_second=rate,
        pace_private_chats=pace,
        admins=frozenset(admins),
        default_locale=locale,
        reports_per_day=per_day,
        weekly_digest=digest,
        flood_messages=flood_messages,
        flood_seconds=flood_seconds,
        units=units,
        sla=sla,
        webhook=webhook,
        privacy=privacy,
        web=web,
        ops=ops,
        proxy=proxy,
        zalo=zalo,
    )


DATABASE_URL_SCHEMES = ("postgresql://", "postgres://")
STATE_STEM = "liemchinh"


def is_database_url(value: str) -> bool:
    """Tell whether `[storage] database` names a PostgreSQL server rather than a SQLite file."""
    return value.startswith(DATABASE_URL_SCHEMES)


def redact_url(url: str) -> str:
    """Return a database URL without its password, to print or log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _parse_database(
    storage: Mapping[str, Any], database: str, path: Path
) -> tuple[str | None, Path]:
    """Return the PostgreSQL URL (or None) and the SQLite file or the stem of the key files."""
    state_dir = _opt_str(storage, "state_dir", path, "storage")
    if not is_database_url(database):
        if state_dir:
            raise ConfigError(path, "storage.state_dir", "only for a PostgreSQL database")
        db_path = Path(database)
        # Relative paths follow the config file, not the directory the operator happens to be
        # in.
        return None, db_path if db_path.is_absolute() else path.parent / db_path
    try:
        parts = urlsplit(database)
        ok = bool(parts.hostname) and parts.path.strip("/") != "" and parts.port != 0
    except ValueError:
        ok = False
    if not ok:
        raise ConfigError(path, "storage.database", "must be postgresql://user@host:port/database")
    folder = Path(state_dir) if state_dir else path.parent
    if not folder.is_absolute():
        folder = path.parent / folder
    # The keys a SQLite database keeps beside it live here, shared by every worker.
    return database, folder / STATE_STEM


def _parse_proxy(telegram: Mapping[str, Any], path: Path) -> str | None:
    """Return the Bot API's proxy URL, or None; refuse a scheme the transport cannot use."""
    proxy = _opt_str(telegram, "proxy", path, "telegram")
    if proxy is None:
        return None
    scheme, sep, rest = proxy.partition("://")
    host = rest.rsplit("@", 1)[-1].split("/", 1)[0]
    if not sep or scheme.lower() not in PROXY_SCHEMES or not host:
        raise ConfigError(
            path,
            "telegram.proxy",
            "must be an address such as socks5://host:port or http://host:port",
        )
    return proxy


def proxy_address(proxy: str) -> str:
    """Return a proxy URL without its credentials, to name it in messages and logs."""
    scheme, _sep, rest = proxy.partition("://")
    return f"{scheme}://{rest.rsplit('@', 1)[-1]}"


def proxy_secrets(proxy: str | None) -> list[str]:
    """Return the credentials a proxy URL carries, as written and percent-decoded."""
    if not proxy or "@" not in proxy.partition("://")[2]:
        return []
    userinfo = proxy.partition("://")[2].rsplit("@", 1)[0]
    _user, _sep, password = userinfo.partition(":")
    found = [userinfo, password]
    return [s for s in {*found, *(unquote(item) for item in found)} if s]


def _parse_ops(table: Mapping[str, Any], path: Path) -> OpsConfig:
    enabled = table.get("enabled", False)
    if not isinstance(enabled, bool):
        raise ConfigError(path, "ops.enabled", "must be true or false")
    bounds = {"ready_intake_seconds": (10, 86400), "ready_outbox_minutes": (1, 10080)}
    values: dict[str, int] = {}
    for key, (low, high) in bounds.items():
        value = table.get(key, getattr(OpsConfig, key))
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ConfigError(path, f"ops.{key}", f"must be a whole number from {low} to {high}")
        values[key] = value
    return OpsConfig(enabled=enabled, **values)


def check_database_path(settings: Settings) -> None:
    """Create the database's folder and prove the file can be opened, or raise ConfigError."""
    db = settings.database
    if settings.database_url is not None:
        # PostgreSQL is reached when the bot opens it; the keys' folder must exist here.
        try:
            db.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                settings.path, "storage.state_dir", f"{db.parent} cannot be made ({exc})"
            ) from None
        return
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
        # A file created here is the bot's database: owner-only from the start.
        secure_database_file(db)
        conn = sqlite3.connect(db)
        try:
            conn.execute("PRAGMA schema_version").fetchone()
        finally:
            conn.close()
    except (OSError, sqlite3.Error) as exc:
        raise ConfigError(
            settings.path, "storage.database", f"{db} cannot be opened ({exc})"
        ) from None


def _bot_number(
    table: Mapping[str, Any], key: str, default: int, bounds: tuple[int, int], path: Path
) -> int:
    value = table.get(key, default)
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(path, f"bot.{key}", f"must be a whole number from {low} to {high}")
    return value


def _opt_str(table: Mapping[str, Any], key: str, path: Path, section: str) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(path, f"{section}.{key}", "must be a string")
    return value.strip() or None


def _int_list(value: Any, path: Path, key: str) -> list[int]:
    if not isinstance(value, list):
        raise ConfigError(path, key, "must be a list of Telegram user ids")
    out = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int):
            raise ConfigError(path, key, f"{item!r} is not an integer Telegram id")
        out.append(item)
    return out


def _parse_webhook(table: Mapping[str, Any], path: Path) -> WebhookConfig:
    url = _opt_str(table, "url", path, "webhook")
    if url is not None and not url.startswith("https://"):
        raise ConfigError(path, "webhook.url", "must be an https:// address (Telegram's rule)")
    secret = os.environ.get(WEBHOOK_SECRET_ENV) or _opt_str(table, "secret_token", path, "webhook")
    if secret is not None and not _SECRET_RE.match(secret):
        raise ConfigError(
            path, "webhook.secret_token", "must be 1-256 characters: letters, digits, _ or -"
        )
    listen = _opt_str(table, "listen", path, "webhook") or "127.0.0.1"
    port = table.get("port", 8443)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ConfigError(path, "webhook.port", "must be a port number from 1 to 65535")
    return WebhookConfig(url=url, secret_token=secret, listen=listen, port=port)


def _is_address(text: str) -> bool:
    """Tell whether `text` is an IP address to listen on (a name could resolve to many)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return text == "localhost"
    return True


def _is_web_address(text: str) -> bool:
    """Tell whether `text` is an http:// or https:// address with a host."""
    parts = urllib.parse.urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _parse_web(table: Mapping[str, Any], webhook: Mapping[str, Any], path: Path) -> WebConfig:
    enabled = table.get("enabled", False)
    if not isinstance(enabled, bool):
        raise ConfigError(path, "web.enabled", "must be true or false")
    # One server answers the pages, the webhook and the operator's endpoints. A config written
    # when the webhook had a server of its own keeps its address: [webhook] listen and port
    # count where [web] gives none.
    section = "web" if "listen" in table or "port" in table else "webhook"
    source = table if section == "web" else webhook
    listen = _opt_str(source, "listen", path, section) or "127.0.0.1"
    if not _is_address(listen):
        raise ConfigError(path, f"{section}.listen", "must be an IP address such as 127.0.0.1")
    port = source.get("port", 8080)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ConfigError(path, f"{section}.port", "must be a port number from 1 to 65535")
    public_url = _opt_str(table, "public_url", path, "web")
    if public_url is not None and not _is_web_address(public_url):
        raise ConfigError(path, "web.public_url", "must be an http:// or https:// address")
    minimum = table.get("board_min_reports", 5)
    if isinstance(minimum, bool) or not isinstance(minimum, int) or not 1 <= minimum <= 1000:
        raise ConfigError(path, "web.board_min_reports", "must be a whole number from 1 to 1000")
    return WebConfig(
        enabled=enabled,
        listen=listen,
        port=port,
        public_url=public_url.rstrip("/") if public_url else None,
        board_min_reports=minimum,
    )


def _parse_zalo(table: Mapping[str, Any], path: Path) -> ZaloConfig | None:
    token = os.environ.get(ZALO_TOKEN_ENV) or _opt_str(table, "token", path, "zalo")
    if not token:
        if table:
            raise ConfigError(
                path,
                "zalo.token",
                f"missing: set it in the file or in the {ZALO_TOKEN_ENV} variable",
            )
        return None
    base_url = _opt_str(table, "base_url", path, "zalo") or DEFAULT_ZALO_BASE_URL
    if not base_url.startswith(("https://", "http://")):
        raise ConfigError(path, "zalo.base_url", "must be an http:// or https:// address")
    mode = table.get("mode", "polling")
    if mode not in ("polling", "webhook"):
        raise ConfigError(path, "zalo.mode", 'must be "polling" or "webhook"')
    url = _opt_str(table, "webhook_url", path, "zalo")
    if url is not None and not url.startswith("https://"):
        raise ConfigError(path, "zalo.webhook_url", "must be an https:// address (Zalo's rule)")
    secret = os.environ.get(ZALO_SECRET_ENV) or _opt_str(table, "secret_token", path, "zalo")
    if secret is not None and not _ZALO_SECRET_RE.match(secret):
        raise ConfigError(
            path, "zalo.secret_token", "must be 8-256 characters: letters, digits, _ or -"
        )
    if mode == "webhook" and (url is None or secret is None):
        key = "zalo.webhook_url" if url is None else "zalo.secret_token"
        raise ConfigError(path, key, "missing: webhook mode needs webhook_url and secret_token")
    rate = table.get("messages_per_second", 5)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate <= 100:
        raise ConfigError(path, "zalo.messages_per_second", "must be a number above 0, up to 100")
    gap = table.get("seconds_per_user", 1)
    if isinstance(gap, bool) or not isinstance(gap, int | float) or not 0 <= gap <= 60:
        raise ConfigError(path, "zalo.seconds_per_user", "must be a number from 0 to 60")
    media = _opt_str(table, "media_url", path, "zalo")
    if media is not None and not media.startswith(("https://", "http://")):
        raise ConfigError(path, "zalo.media_url", "must be an http:// or https:// address")
    return ZaloConfig(
        token=token,
        base_url=base_url.rstrip("/"),
        mode=mode,
        webhook_url=url,
        secret_token=secret,
        messages_per_second=float(rate),
        seconds_per_user=float(gap),
        media_url=media.rstrip("/") if media else None,
    )


def _parse_sla(table: Mapping[str, Any], path: Path) -> SlaConfig:
    defaults = SlaConfig()

    def number(key: str) -> int:
        value = table.get(key, getattr(defaults, key))
        low, high = _SLA_RANGES[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ConfigError(path, f"sla.{key}", f"must be a whole number from {low} to {high}")
        return value

    # `holidays`, the key's name before public holidays were computed, still adds days off.
    listed_off = {
        day: "sla.holidays" for day in _date_list(table.get("holidays", []), path, "sla.holidays")
    }
    listed_off |= {
        day: "sla.extra_days_off"
        for day in _date_list(table.get("extra_days_off", []), path, "sla.extra_days_off")
    }
    days_off = frozenset(listed_off)
    working = frozenset(_date_list(table.get("working_days", []), path, "sla.working_days"))
    for day in sorted(working):
        _check_working_day(day, listed_off, path)
    return SlaConfig(
        acknowledge_working_days=number("acknowledge_working_days"),
        resolve_days=number("resolve_days"),
        extension_max_days=number("extension_max_days"),
        reopen_days=number("reopen_days"),
        remind_hours_before=number("remind_hours_before"),
        extra_days_off=days_off,
        working_days=working,
    )


def _check_working_day(day: date, listed_off: Mapping[date, str], path: Path) -> None:
    """Refuse a make-up working day that is also a day off, or that is a working day anyway."""
    problem = working_day_problem(day, listed_off)
    if problem is not None:
        raise ConfigError(path, "sla.working_days", problem)


def _parse_privacy(table: Mapping[str, Any], path: Path) -> PrivacyConfig:
    defaults = PrivacyConfig()

    def number(key: str) -> int:
        value = table.get(key, getattr(defaults, key))
        low, high = _PRIVACY_RANGES[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ConfigError(
                path, f"privacy.{key}", f"must be a whole number of days from {low} to {high}"
            )
        return value

    return PrivacyConfig(
        reporter_link_days=number("reporter_link_days"), draft_days=number("draft_days")
    )


def _check_data_key(path: Path) -> None:
    """Refuse a data key that is set but unusable: contacts would be stored in plain text."""
    value = os.environ.get(DATA_KEY_ENV, "").strip()
    if not value:
        return
    try:
        parse_data_key(value)
    except ValueError:
        raise ConfigError(path, DATA_KEY_ENV, "is not a valid Fernet key") from None


def _date_list(value: Any, path: Path, key: str) -> list[date]:
    if not isinstance(value, list):
        raise ConfigError(path, key, "must be a list of dates, written [2026-01-01, ...]")
    out = []
    for item in value:
        # A TOML local date arrives as a date; a datetime is a date too, but a moment is not a day.
        if isinstance(item, date) and not isinstance(item, datetime):
            out.append(item)
            continue
        if isinstance(item, str) and _ISO_DATE_RE.match(item.strip()):
            try:
                out.append(date.fromisoformat(item.strip()))
                continue
            except ValueError:
                pass
        raise ConfigError(path, key, f"{item!r} is not a date written YYYY-MM-DD")
    return out


def _parse_units(value: Any, path: Path) -> tuple[UnitConfig, ...]:
    if not isinstance(value, list):
        raise ConfigError(path, "units", "must be written as [[units]] tables")
    units: dict[str, UnitConfig] = {}
    for index, entry in enumerate(value, start=1):
        where = f"units[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(path, where, "must be a table")
        for key in entry:
            if key not in _UNIT_KEYS:
                raise ConfigError(path, f"{where}.{key}", "unknown key")
        code = entry.get("code")
        if not isinstance(code, str) or not UNIT_CODE_RE.match(code):
            raise ConfigError(
                path, f"{where}.code", "must be 1-24 letters, digits, '.', '_' or '-'"
            )
        where = f"units.{code}"
        if code in units:
            raise ConfigError(path, f"{where}.code", "duplicate unit code")
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(path, f"{where}.name", "missing or empty")
        parent = entry.get("parent")
        if parent is not None and not isinstance(parent, str):
            raise ConfigError(path, f"{where}.parent", "must be a unit code")
        chat_id = entry.get("chat_id")
        if chat_id is not None and (isinstance(chat_id, bool) or not isinstance(chat_id, int)):
            raise ConfigError(path, f"{where}.chat_id", f"{chat_id!r} is not an integer chat id")
        officers = _int_list(entry.get("officers", []), path, f"{where}.officers")
        units[code] = UnitConfig(code, name.strip(), parent or None, chat_id, tuple(officers))

    for unit in units.values():
        if unit.parent is not None and unit.parent not in units:
            raise ConfigError(path, f"units.{unit.code}.parent", f"unknown unit {unit.parent!r}")
    for unit in units.values():
        seen = {unit.code}
        cursor = unit.parent
        while cursor is not None:
            if cursor in seen:
                raise ConfigError(path, f"units.{unit.code}.parent", "the parents form a cycle")
            seen.add(cursor)
            cursor = units[cursor].parent
    return tuple(units.values())
