"""Mailing the monthly report: SMTP settings, addresses, the letters, delivery with one retry.

``portfolio report --mail TO[,TO...]`` sends the Markdown summary as the body (the HTML report
as the alternative body), the HTML and the xlsx attached. ``--mail-units`` also sends each unit
named in the ``[mail.units]`` table its own letter: the same report, with that unit's lagging
projects at the top of the body and as one more attachment
(``portfolio-report-YYYY-MM-lagging-<unit>.xlsx``, written beside the report).

Settings (docs/report.md): ``PORTFOLIO_SMTP_HOST``, ``_PORT``, ``_USER``, ``_PASSWORD``,
``_FROM``, ``_TLS`` (``none`` / ``starttls`` / ``ssl``), or the same keys in lower case in
the ``[mail]`` table of ``.streamlit/secrets.toml`` (found as the app finds ``[auth]``:
:func:`portfolio.local_mode.secrets_paths`); a variable overrides the table, key by key.

Everything that can be refused is refused before the report is written (:class:`MailConfigError`,
exit 2): an unusable setting, an address that is not one, a line break in an address or a
subject. Delivery failures are retried once, then reported per recipient (exit 1); the report
files stay written either way. The password is never part of any message or ``repr``.
"""

from __future__ import annotations

import html
import os
import re
import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import Any

import polars as pl

from . import local_mode
from .textsafe import visible

#: TLS modes: plain SMTP, STARTTLS after connecting, or TLS from the first byte (SMTPS).
TLS_MODES = ("none", "starttls", "ssl")
DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}
ENV_PREFIX = "PORTFOLIO_SMTP_"
#: The keys of ``[mail]`` (and ``PORTFOLIO_SMTP_<KEY>``); ``units`` is the per-unit table.
KEYS = ("host", "port", "user", "password", "from", "tls", "subject", "timeout", "retry_delay")
DEFAULT_TIMEOUT = 30.0
#: Seconds between the first failed attempt and the retry.
DEFAULT_RETRY_DELAY = 10.0
#: The file holding one unit's lagging projects, beside the report.
UNIT_FILE = "portfolio-report-{month}-lagging-{unit}.xlsx"
#: Lagging projects listed in a unit letter's body (the attachment has them all).
UNIT_BODY_ROWS = 20
CONTENT_TYPES = {
    ".html": ("text", "html"),
    ".md": ("text", "markdown"),
    ".csv": ("text", "csv"),
    ".xlsx": ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
}

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@{_LABEL}(?:\.{_LABEL})*")
_LINE_BREAK = re.compile(r"[\r\n\x00\u2028\u2029\x85]")


class MailConfigError(ValueError):
    """Mail settings or addresses that cannot be used: one sentence, exit 2, nothing sent."""


@dataclass(frozen=True)
class Settings:
    """Where and how to send; ``repr`` never shows the password."""

    host: str
    port: int
    sender: str
    tls: str = "starttls"
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    subject: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    retry_delay: float = DEFAULT_RETRY_DELAY

    @property
    def server(self) -> str:
        """``host:port`` for messages."""
        return f"{self.host}:{self.port}"


@dataclass
class Letter:
    """One message: its recipients, subject, plain and HTML bodies, and the files attached."""

    recipients: list[str]
    subject: str
    text: str
    html: str | None = None
    attachments: list[Path] = field(default_factory=list)
    unit: str | None = None


@dataclass
class Delivery:
    """What happened to one recipient of one letter."""

    to: str
    unit: str | None
    status: str  # "sent" | "failed"
    attempts: int
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape (``report --json``'s ``mail`` list)."""
        return {"to": self.to, "unit": self.unit, "status": self.status, "attempts": self.attempts,
                "error": self.error}


# ---------------------------------------------------------------- settings and addresses
def parse_tls(value: object) -> str:
    """``none`` / ``starttls`` / ``ssl`` (any case, spaces ignored); MailConfigError otherwise."""
    text = str(value).strip().lower()
    if text not in TLS_MODES:
        raise MailConfigError(f"TLS 设置 {visible(value)!r} 无法识别，可选 none、starttls、ssl"
                              "（PORTFOLIO_SMTP_TLS must be none, starttls or ssl）。")
    return text


def _no_line_break(value: str, what: str) -> str:
    if _LINE_BREAK.search(value):
        raise MailConfigError(f"{what}中不能有换行：{visible(value)!r}（line break in {_EN.get(what, 'a header')}）。")
    return value


_EN = {"收件人地址": "an address", "发件人地址": "the sender", "邮件主题": "the subject"}


def check_address(text: str, what: str = "收件人地址") -> str:
    """A bare address (``name@host.domain``) as given, stripped; MailConfigError when it is not one."""
    value = _no_line_break(str(text), what).strip(" \t")
    if not value or len(value) > 254 or not _ADDRESS.fullmatch(value):
        raise MailConfigError(f"{what} {visible(value)!r} 不是有效的电子邮件地址（invalid e-mail address）。")
    return value


def parse_recipients(text: str | Sequence[str]) -> list[str]:
    """Addresses separated by commas or semicolons (or given as a list), each checked, duplicates dropped."""
    parts = [text] if isinstance(text, str) else list(text)
    found: list[str] = []
    for part in parts:
        if not isinstance(part, str):
            raise MailConfigError(f"收件人 {visible(part)!r} 应写成文字（addresses must be text）。")
        found += [check_address(a) for a in re.split(r"[,;，；]", part) if a.strip(" \t")]
    if not found:
        raise MailConfigError("没有给出收件人，请写成 a@x.cn,b@y.cn（no recipients）。")
    return list(dict.fromkeys(found))


def check_sender(text: str) -> str:
    """The From address, bare or as ``名字 <a@x.cn>``; returned as a header value."""
    value = _no_line_break(str(text), "发件人地址").strip()
    name, addr = parseaddr(value)
    check_address(addr or value, "发件人地址")
    return formataddr((name, addr)) if name else addr


def check_subject(text: str) -> str:
    """A subject with no line break (a header cannot be injected through it)."""
    return _no_line_break(text, "邮件主题").strip()


def _number(value: object, key: str, *, whole: bool = False) -> float:
    try:
        number = float(str(value).strip())
    except ValueError:
        number = float("nan")
    if not number >= 0 or (whole and (number != int(number) or not 0 < number < 65536)):
        raise MailConfigError(f"邮件设置 {key} 的值 {visible(value)!r} 无效（invalid {key}）。")
    return number


def settings_from(environ: Mapping[str, str], section: object) -> Settings:
    """The settings from ``PORTFOLIO_SMTP_*`` over the ``[mail]`` table; MailConfigError if unusable."""
    if section is not None and not isinstance(section, Mapping):
        raise MailConfigError("secrets.toml 中的 mail 应是一个表 [mail]（[mail] must be a table）。")
    table = dict(section or {})
    values: dict[str, object] = {}
    for key in KEYS:
        env = environ.get(ENV_PREFIX + key.upper(), "")
        if env.strip():
            values[key] = env
        elif table.get(key) not in (None, ""):
            values[key] = table[key]
    missing = [k for k in ("host", "from") if k not in values]
    if missing:
        names = "、".join(ENV_PREFIX + k.upper() for k in missing)
        raise MailConfigError(f"未配置邮件服务器：请设置 {names}，或 .streamlit/secrets.toml 的 [mail] 表"
                              f"（mail settings missing: {', '.join(missing)}；见 docs/report.md）。")
    host = _no_line_break(str(values["host"]), "邮件服务器").strip()
    tls = parse_tls(values.get("tls", "starttls"))
    port = int(_number(values["port"], "port", whole=True)) if "port" in values else DEFAULT_PORTS[tls]
    user = str(values["user"]) if "user" in values else None
    password = str(values["password"]) if "password" in values else None
    if (user is None) != (password is None):
        raise MailConfigError("邮件设置的 user 与 password 要么都给出，要么都不给"
                              "（set both PORTFOLIO_SMTP_USER and PORTFOLIO_SMTP_PASSWORD, or neither）。")
    subject = check_subject(str(values["subject"])) if "subject" in values else None
    return Settings(host=host, port=port, sender=check_sender(str(values["from"])), tls=tls, user=user,
                    password=password, subject=subject,
                    timeout=_number(values.get("timeout", DEFAULT_TIMEOUT), "timeout") or DEFAULT_TIMEOUT,
                    retry_delay=_number(values.get("retry_delay", DEFAULT_RETRY_DELAY), "retry_delay"))


def secrets_section(*, cwd: Path | None = None, home: Path | None = None) -> object | None:
    """The ``[mail]`` table of the secrets files the app reads (None without one)."""
    app_dir = Path(__file__).resolve().parent.parent
    paths = local_mode.secrets_paths(app_dir=app_dir, cwd=cwd or Path.cwd(), home=home or Path.home())
    try:
        return local_mode.load_secrets_section(paths, "mail", what="邮件设置")
    except local_mode.SecretsUnreadable as exc:
        raise MailConfigError(str(exc)) from exc


def unit_recipients(section: object) -> dict[str, list[str]]:
    """The ``[mail.units]`` table: unit_id → its addresses (``"a@x.cn, b@y.cn"`` or a list)."""
    table = section.get("units") if isinstance(section, Mapping) else None
    if table is None:
        return {}
    if not isinstance(table, Mapping):
        raise MailConfigError("[mail.units] 应是一个表：单位编号 = \"a@x.cn, b@y.cn\"（[mail.units] must be a table）。")
    return {str(unit): parse_recipients(addresses) for unit, addresses in table.items()}


def load(environ: Mapping[str, str] | None = None) -> tuple[Settings, dict[str, list[str]]]:
    """The settings and the per-unit recipients, from the environment and secrets.toml."""
    section = secrets_section()
    return settings_from(os.environ if environ is None else environ, section), unit_recipients(section)


# ---------------------------------------------------------------- the letters of a report
def _report_file(paths: Sequence[Path], suffix: str) -> Path:
    for p in paths:
        if p.suffix == suffix and p.stem.count("-") == 3:  # portfolio-report-YYYY-MM.<suffix>
            return p
    raise ValueError(f"报告中没有 {suffix} 文件（the report has no {suffix} file）。")


def _lagging_rows(paths: Sequence[Path], lang: str) -> pl.DataFrame:
    """Every lagging project as the report lists it: its xlsx sheet, or the whole CSV beside a cut sheet."""
    from .report.render import Words

    w = Words(lang)
    whole = [p for p in paths if p.name.endswith("-lagging.csv")]
    if whole:
        return pl.read_csv(whole[0], infer_schema_length=None)
    xlsx = _report_file(paths, ".xlsx")
    sheet = w("report.sheet.lagging")
    top = pl.read_excel(xlsx, sheet_name=sheet, has_header=False, read_options={"n_rows": 10})
    id_col = w("col.project_id")
    header = next((i for i, row in enumerate(top.rows()) if id_col in row), 0)
    return pl.read_excel(xlsx, sheet_name=sheet, read_options={"header_row": header})


def unit_lagging(paths: Sequence[Path], unit_of: pl.DataFrame, unit_id: str, *, lang: str = "zh") -> pl.DataFrame:
    """The report's lagging rows of one unit (``unit_of``: project_id → unit_id), in the report's order."""
    from .report.render import Words

    rows = _lagging_rows(paths, lang)
    id_col = Words(lang)("col.project_id")
    ids = unit_of.filter(pl.col("unit_id") == unit_id).get_column("project_id").cast(pl.String)
    return rows.filter(pl.col(id_col).cast(pl.String).is_in(ids.implode()))


def unit_section(unit_name: str, rows: pl.DataFrame, attachment: str, *, month: str, lang: str = "zh") -> str:
    """The Markdown block a unit letter opens with: how many lagging projects, the first ones, the file."""
    from .report.render import Words

    w = Words(lang)
    id_col, name_col = w("col.project_id"), w("report.col.project")
    name = visible(unit_name)
    if rows.is_empty():
        return f"## 本单位滞后项目：{name}\n\n截至 {month} 没有滞后项目。\n\n"
    lines = [f"## 本单位滞后项目：{name}（{rows.height:,} 个）", "",
             f"全部清单见附件 {attachment}（截至 {month}）。" +
             (f"前 {UNIT_BODY_ROWS} 个：" if rows.height > UNIT_BODY_ROWS else ""), ""]
    shown = rows.head(UNIT_BODY_ROWS)
    lines += [f"{i}. {visible(pid)} {visible(pname)}"
              for i, (pid, pname) in enumerate(zip(shown[id_col], shown[name_col], strict=True), start=1)]
    return "\n".join(lines) + "\n\n---\n\n"


def _with_unit_html(page: str, section: str) -> str:
    block = "<section style=\"border:1px solid #c00;padding:8px;margin:8px 0\"><pre style=\"white-space:pre-wrap\">" \
            f"{html.escape(section)}</pre></section>"
    at = re.search(r"<body[^>]*>", page)
    return page[:at.end()] + block + page[at.end():] if at else block + page


def report_subject(settings: Settings, markdown: str, *, month: str, unit: str | None = None) -> str:
    """The subject: the configured one (``{month}``, ``{unit}`` filled in) or the report's title."""
    if settings.subject:
        subject = settings.subject.replace("{month}", month).replace("{unit}", unit or "")
    else:
        first = markdown.lstrip().splitlines()[0] if markdown.strip() else f"月度报告 {month}"
        subject = first.lstrip("# ").strip() + (f" · {unit}" if unit else "")
    return check_subject(subject)


def report_letters(settings: Settings, paths: Sequence[Path], *, month: str, recipients: Sequence[str] = (),
                   units: Mapping[str, Sequence[str]] | None = None, unit_names: Mapping[str, str] | None = None,
                   unit_of: pl.DataFrame | None = None,
                   write_unit_file: Callable[[Path, bytes], Path] | None = None,
                   lang: str = "zh") -> list[Letter]:
    """The letters of a written report: one to ``recipients``, one to each unit of ``units``.

    ``paths`` are the files the report wrote (it must hold the md, html and xlsx). A unit
    letter carries the unit's lagging rows (:func:`unit_lagging`) as its own xlsx, written by
    ``write_unit_file(target, content)`` beside the report."""
    from . import export

    markdown = _report_file(paths, ".md").read_text(encoding="utf-8")
    page_file = _report_file(paths, ".html")
    page = page_file.read_text(encoding="utf-8")
    common = [page_file, _report_file(paths, ".xlsx")]
    letters = []
    if recipients:
        letters.append(Letter(list(recipients), report_subject(settings, markdown, month=month), markdown, page,
                              list(common)))
    for unit_id, addresses in (units or {}).items():
        name = (unit_names or {}).get(unit_id, unit_id)
        rows = unit_lagging(paths, unit_of if unit_of is not None else pl.DataFrame(
            schema={"project_id": pl.String, "unit_id": pl.String}), unit_id, lang=lang)
        target = page_file.parent / UNIT_FILE.format(month=month, unit=unit_id)
        title = f"{name} 滞后项目 {rows.height:,} 个（截至 {month}）"
        content = export.write_xlsx({"滞后项目": rows}, titles={"滞后项目": title})
        assert content is not None
        written = write_unit_file(target, content) if write_unit_file else target
        section = unit_section(name, rows, written.name, month=month, lang=lang)
        letters.append(Letter(list(addresses), report_subject(settings, markdown, month=month, unit=name),
                              section + markdown, _with_unit_html(page, section), [*common, written], unit=unit_id))
    return letters


# ---------------------------------------------------------------- sending
def compose(settings: Settings, letter: Letter) -> EmailMessage:
    """The MIME message: plain text (the Markdown), the HTML alternative, the files attached."""
    msg = EmailMessage()
    msg["From"] = settings.sender
    msg["To"] = ", ".join(check_address(a) for a in letter.recipients)
    msg["Subject"] = check_subject(letter.subject)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=parseaddr(settings.sender)[1].rpartition("@")[2] or None)
    msg.set_content(letter.text, subtype="plain", charset="utf-8")
    if letter.html is not None:
        msg.add_alternative(letter.html, subtype="html", charset="utf-8")
    for path in letter.attachments:
        maintype, subtype = CONTENT_TYPES.get(path.suffix.lower(), ("application", "octet-stream"))
        msg.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name)
    return msg


def _connect(settings: Settings) -> smtplib.SMTP:
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if settings.tls == "ssl":
        smtp = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout, context=context)
    else:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    try:
        if settings.tls == "starttls":
            smtp.ehlo()
            smtp.starttls(context=context)
            smtp.ehlo()
        if settings.user is not None and settings.password is not None:
            smtp.login(settings.user, settings.password)
    except BaseException:
        _close(smtp)
        raise
    return smtp


def _close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _said(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return visible(" ".join(text.split()))[:200]


def describe_failure(exc: BaseException, settings: Settings) -> str:
    """One sentence (Chinese, then English in parentheses) for a failed connection or delivery."""
    where = settings.server
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return (f"邮件服务器 {where} 拒绝了用户 {visible(settings.user)} 的登录（{exc.smtp_code}）"
                f"（authentication failed）。")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return (f"邮件服务器 {where} 不支持所需的功能（如 STARTTLS 或登录）；请检查 PORTFOLIO_SMTP_TLS"
                f"（server does not support it: {_said(str(exc))}）。")
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return (f"邮件服务器 {where} 拒绝了发件人 {visible(settings.sender)}：{exc.smtp_code} {_said(exc.smtp_error)}"
                "（sender refused）。")
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"邮件服务器 {where} 拒绝了邮件：{exc.smtp_code} {_said(exc.smtp_error)}（message refused）。"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return f"邮件服务器 {where} 断开了连接（server disconnected）。"
    if isinstance(exc, ConnectionRefusedError):
        return f"无法连接邮件服务器 {where}：连接被拒绝（connection refused）。"
    if isinstance(exc, socket.gaierror):
        return f"找不到邮件服务器 {visible(settings.host)}（host not found）。"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"连接邮件服务器 {where} 超时（timed out）。"
    if isinstance(exc, ssl.SSLError):
        return f"与邮件服务器 {where} 的 TLS 连接失败：{_said(exc.reason or str(exc))}（TLS failed）。"
    if isinstance(exc, OSError):
        return f"无法连接邮件服务器 {where}：{_said(exc.strerror or str(exc))}（connection failed）。"
    return f"发送到邮件服务器 {where} 失败：{_said(str(exc))}（delivery failed）。"


def _attempt(settings: Settings, pending: list[tuple[Letter, EmailMessage, list[str]]],
             connect: Callable[[Settings], smtplib.SMTP]) -> dict[tuple[int, str], str]:
    """Send each pending letter to its recipients over one connection; (letter index, address) → why it failed."""
    failed: dict[tuple[int, str], str] = {}
    try:
        smtp = connect(settings)
    except (smtplib.SMTPException, OSError) as exc:
        why = describe_failure(exc, settings)
        return {(i, to): why for i, (_l, _m, rcpts) in enumerate(pending) for to in rcpts}
    try:
        for i, (_letter, msg, rcpts) in enumerate(pending):
            try:
                refused = smtp.send_message(msg, from_addr=parseaddr(settings.sender)[1], to_addrs=rcpts)
            except smtplib.SMTPRecipientsRefused as exc:
                refused = exc.recipients
            except (smtplib.SMTPException, OSError) as exc:
                why = describe_failure(exc, settings)
                failed.update({(i, to): why for to in rcpts})
                # smtplib's errors are OSErrors too: only a lost connection ends the attempt
                if isinstance(exc, smtplib.SMTPServerDisconnected) or not isinstance(exc, smtplib.SMTPException):
                    for j, (_l, _m, later) in enumerate(pending[i + 1:], start=i + 1):
                        failed.update({(j, to): why for to in later})
                    break
                continue
            for to, (code, reply) in refused.items():
                failed[(i, to)] = (f"邮件服务器 {settings.server} 拒收收件人 {visible(to)}：{code} {_said(reply)}"
                                   "（recipient refused）。")
    finally:
        _close(smtp)
    return failed


def send(settings: Settings, letters: Sequence[Letter], *, say: Callable[[str], None] | None = None,
         connect: Callable[[Settings], smtplib.SMTP] = _connect,
         sleep: Callable[[float], None] = time.sleep) -> list[Delivery]:
    """Send every letter; a recipient that failed is tried once more after ``retry_delay`` seconds.

    Returns one :class:`Delivery` per recipient of each letter, in order."""
    report = say or (lambda _msg: None)
    messages = [compose(settings, letter) for letter in letters]
    pending = [(letter, msg, list(letter.recipients)) for letter, msg in zip(letters, messages, strict=True)]
    failed = _attempt(settings, pending, connect)
    attempts = {(i, to): 1 for i, (_l, _m, rcpts) in enumerate(pending) for to in rcpts}
    if failed:
        first = next(iter(failed.values()))
        report(f"{first} {settings.retry_delay:g} 秒后重试一次（retrying once）。")
        sleep(settings.retry_delay)
        again = [(letter, msg, [to for to in rcpts if (i, to) in failed])
                 for i, (letter, msg, rcpts) in enumerate(pending)]
        index = [i for i, (_l, _m, rcpts) in enumerate(again) if rcpts]
        second = _attempt(settings, [again[i] for i in index], connect)
        for (k, to), _why in list(failed.items()):
            attempts[(k, to)] = 2
        failed = {(index[j], to): why for (j, to), why in second.items()}
    return [Delivery(to=to, unit=letter.unit, status="failed" if (i, to) in failed else "sent",
                     attempts=attempts[(i, to)], error=failed.get((i, to)))
            for i, (letter, _m, rcpts) in enumerate(pending) for to in rcpts]
