"""`portfolio report --mail`: the report reaches people through a local SMTP server started here."""

from __future__ import annotations

import email
import io
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from portfolio import mail

aiosmtpd = pytest.importorskip("aiosmtpd", reason="aiosmtpd is in the dev extra")
from aiosmtpd.controller import Controller  # noqa: E402
from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: E402

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PASSWORD = "s3cret-Pa55"  # noqa: S105 - a test server's


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Handler:
    """Records what arrives; may answer 451 to the first RCPT, and 550 to some addresses."""

    refuse_first: bool = False
    refused: set[str] = field(default_factory=set)
    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    rcpt_seen: int = 0

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        self.rcpt_seen += 1
        if self.refuse_first and self.rcpt_seen == 1:
            return "451 4.3.0 try again later"
        if address in self.refused:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"


@dataclass
class Server:
    handler: Handler
    port: int


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.login == b"bot" and data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_server(request: pytest.FixtureRequest) -> Iterator[Server]:
    """A local SMTP server on a free port (``@pytest.mark.parametrize`` ``smtp_server`` with Handler kwargs)."""
    options = getattr(request, "param", {})
    handler = Handler(**{k: v for k, v in options.items() if k != "auth"})
    port = _free_port()
    extra = {"authenticator": _authenticate, "auth_require_tls": False} if options.get("auth") else {}
    controller = Controller(handler, hostname="127.0.0.1", port=port, **extra)
    controller.start()
    try:
        yield Server(handler, port)
    finally:
        controller.stop()


def _env(tmp_path: Path, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTFOLIO_SMTP_")}
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env.update({"HOME": str(home), "PORTFOLIO_SMTP_HOST": "127.0.0.1", "PORTFOLIO_SMTP_PORT": str(port),
                "PORTFOLIO_SMTP_TLS": "none", "PORTFOLIO_SMTP_FROM": "工信局 <report@example.cn>",
                "PORTFOLIO_SMTP_RETRY_DELAY": "0", **extra})
    return env


def _report(db: Path, tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "portfolio.cli", "report", "--db", str(db), "--out", str(tmp_path / "reports"),
         "--as-of", "2016-09", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False,
    )


def _attachments(message: EmailMessage) -> dict[str, tuple[str, bytes]]:
    found = {}
    for part in message.iter_attachments():
        assert isinstance(part, EmailMessage)
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        found[str(part.get_filename())] = (part.get_content_type(), payload)
    return found


# ---------------------------------------------------------------- end to end, as cron runs it
def test_report_mail_delivers_the_summary_and_both_files_and_each_unit_its_lagging_list(
        sample_db: Path, tmp_path: Path, smtp_server: Server) -> None:
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text(
        '[mail.units]\nQK = "qk@example.cn; qk2@example.cn"\nNA = ["na@example.cn"]\n', encoding="utf-8")
    result = _report(sample_db, tmp_path, _env(tmp_path, smtp_server.port),
                     "--mail", "chief@example.cn, deputy@example.cn", "--mail-units", "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert [(d["to"], d["unit"], d["status"], d["attempts"]) for d in payload["mail"]] == [
        ("chief@example.cn", None, "sent", 1), ("deputy@example.cn", None, "sent", 1),
        ("qk@example.cn", "QK", "sent", 1), ("qk2@example.cn", "QK", "sent", 1), ("na@example.cn", "NA", "sent", 1)]
    reports = tmp_path / "reports"
    assert str(reports / "portfolio-report-2016-09-lagging-QK.xlsx") in payload["paths"]

    arrived = smtp_server.handler.messages
    assert [rcpts for rcpts, _m in arrived] == [["chief@example.cn", "deputy@example.cn"],
                                                ["qk@example.cn", "qk2@example.cn"], ["na@example.cn"]]
    city = arrived[0][1]
    assert city["From"] == "工信局 <report@example.cn>"
    assert city["Subject"] == "工业投资与产业链缺口分析月报（2016年9月）〔示例数据〕"
    markdown = (reports / "portfolio-report-2016-09.md").read_text(encoding="utf-8")
    plain = city.get_body(("plain",))
    assert plain is not None and plain.get_content().replace("\r\n", "\n") == markdown
    html_body = city.get_body(("html",))
    assert html_body is not None and "<html" in html_body.get_content()
    files = _attachments(city)
    assert set(files) == {"portfolio-report-2016-09.html", "portfolio-report-2016-09.xlsx"}
    assert files["portfolio-report-2016-09.html"] == ("text/html",
                                                      (reports / "portfolio-report-2016-09.html").read_bytes())
    kind, xlsx = files["portfolio-report-2016-09.xlsx"]
    assert kind == XLSX and xlsx.startswith(b"PK") and xlsx == (reports / "portfolio-report-2016-09.xlsx").read_bytes()
    assert "滞后项目" in openpyxl.load_workbook(io.BytesIO(xlsx)).sheetnames

    # the unit's letter: its lagging projects first in the body and as a workbook of its rows only
    qk = arrived[1][1]
    assert qk["Subject"].endswith("· 长春汽车经济技术开发区")
    qk_files = _attachments(qk)
    assert set(qk_files) == set(files) | {"portfolio-report-2016-09-lagging-QK.xlsx"}
    kind, unit_xlsx = qk_files["portfolio-report-2016-09-lagging-QK.xlsx"]
    assert kind == XLSX and unit_xlsx == (reports / "portfolio-report-2016-09-lagging-QK.xlsx").read_bytes()
    sheet = openpyxl.load_workbook(io.BytesIO(unit_xlsx)).active
    assert sheet is not None
    rows = [r for r in sheet.iter_rows(values_only=True)]
    header = next(i for i, r in enumerate(rows) if r[0] == "项目编号")
    unit_col = rows[header].index("责任单位")
    listed = rows[header + 1:]
    city_sheet = openpyxl.load_workbook(io.BytesIO(xlsx))["滞后项目"]
    city_rows = list(city_sheet.iter_rows(values_only=True))
    expected = [r for r in city_rows[1:] if r[unit_col] == "长春汽车经济技术开发区"]
    assert listed and [r[0] for r in listed] == [r[0] for r in expected]  # the city list's rows, in its order
    assert str(rows[0][0]).startswith(f"长春汽车经济技术开发区 滞后项目 {len(listed)} 个")
    qk_plain = qk.get_body(("plain",))
    assert qk_plain is not None
    text = qk_plain.get_content()
    assert text.startswith(f"## 本单位滞后项目：长春汽车经济技术开发区（{len(listed)} 个）")
    assert f"1. {listed[0][0]} {listed[0][1]}" in text and markdown.strip() in text.replace("\r\n", "\n")


@pytest.mark.parametrize("smtp_server", [{"refuse_first": True}], indirect=True)
def test_a_first_failure_is_retried_once_and_the_mail_arrives(
        sample_db: Path, tmp_path: Path, smtp_server: Server) -> None:
    result = _report(sample_db, tmp_path, _env(tmp_path, smtp_server.port), "--mail", "chief@example.cn", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["mail"] == [
        {"to": "chief@example.cn", "unit": None, "status": "sent", "attempts": 2, "error": None}]
    assert "451" in result.stderr and "重试一次" in result.stderr
    assert [rcpts for rcpts, _m in smtp_server.handler.messages] == [["chief@example.cn"]]


def test_an_unreachable_server_exits_1_in_one_sentence_and_keeps_the_report(sample_db: Path, tmp_path: Path) -> None:
    env = _env(tmp_path, _free_port(), PORTFOLIO_SMTP_USER="bot", PORTFOLIO_SMTP_PASSWORD=PASSWORD)
    result = _report(sample_db, tmp_path, env, "--mail", "chief@example.cn")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("错误: 报告未能发送给 chief@example.cn：无法连接邮件服务器 127.0.0.1:")
    assert "连接被拒绝（connection refused）" in last and "报告文件已写出" in last
    assert "Traceback" not in result.stderr and PASSWORD not in result.stderr + result.stdout
    assert result.stderr.count("重试一次") == 1
    written = [Path(p) for p in result.stdout.split()]
    assert [p.name for p in written] == [f"portfolio-report-2016-09.{x}" for x in ("html", "xlsx", "md")]
    assert all(p.is_file() and p.stat().st_size > 0 for p in written)


@pytest.mark.parametrize("bad", ["chief@example.cn,not-an-address", "chief@example.cn\r\nBcc: spy@evil.cn",
                                 "chief@exa mple.cn", ""])
def test_a_bad_address_is_refused_with_exit_2_before_anything_is_written_or_sent(
        sample_db: Path, tmp_path: Path, smtp_server: Server, bad: str) -> None:
    result = _report(sample_db, tmp_path, _env(tmp_path, smtp_server.port), "--mail", bad)
    assert result.returncode == 2
    assert result.stderr.startswith("错误: ") and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "reports").exists()
    assert smtp_server.handler.messages == [] and smtp_server.handler.rcpt_seen == 0


def test_bad_tls_setting_or_missing_host_is_refused_with_exit_2(sample_db: Path, tmp_path: Path) -> None:
    env = _env(tmp_path, 25, PORTFOLIO_SMTP_TLS="tls1.3")
    result = _report(sample_db, tmp_path, env, "--mail", "chief@example.cn")
    assert result.returncode == 2
    assert "TLS 设置 'tls1.3' 无法识别，可选 none、starttls、ssl" in result.stderr
    env.pop("PORTFOLIO_SMTP_HOST")
    env["PORTFOLIO_SMTP_TLS"] = "none"
    result = _report(sample_db, tmp_path, env, "--mail", "chief@example.cn")
    assert result.returncode == 2 and "PORTFOLIO_SMTP_HOST" in result.stderr
    assert not (tmp_path / "reports").exists()


def test_mail_units_names_an_unknown_unit_with_exit_2(sample_db: Path, tmp_path: Path) -> None:
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text('[mail.units]\nXX = "x@example.cn"\n', encoding="utf-8")
    result = _report(sample_db, tmp_path, _env(tmp_path, 25), "--mail-units")
    assert result.returncode == 2 and "单位编号 XX 不存在" in result.stderr
    assert not (tmp_path / "reports").exists()


# ---------------------------------------------------------------- settings
@pytest.mark.parametrize(("text", "mode", "port"), [("none", "none", 25), (" STARTTLS ", "starttls", 587),
                                                    ("Ssl", "ssl", 465)])
def test_tls_setting_is_parsed_with_its_default_port(text: str, mode: str, port: int) -> None:
    assert mail.parse_tls(text) == mode
    settings = mail.settings_from({"PORTFOLIO_SMTP_HOST": "smtp.example.cn", "PORTFOLIO_SMTP_TLS": text,
                                   "PORTFOLIO_SMTP_FROM": "a@example.cn"}, None)
    assert (settings.tls, settings.port) == (mode, port)


@pytest.mark.parametrize("text", ["tls", "yes", "", "start tls"])
def test_an_unknown_tls_setting_is_refused(text: str) -> None:
    with pytest.raises(mail.MailConfigError, match="可选 none、starttls、ssl"):
        mail.parse_tls(text)


def test_the_mail_table_of_secrets_toml_is_read_and_variables_override_it_key_by_key(tmp_path: Path) -> None:
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text(
        '[mail]\nhost = "smtp.gov.cn"\nport = 2525\nuser = "bot"\npassword = "pw"\nfrom = "bot@gov.cn"\n'
        'tls = "ssl"\n[mail.units]\nQK = "a@gov.cn, b@gov.cn"\n', encoding="utf-8")
    section = mail.secrets_section(cwd=tmp_path, home=tmp_path)
    settings = mail.settings_from({"PORTFOLIO_SMTP_PORT": "465"}, section)
    assert (settings.host, settings.port, settings.user, settings.password, settings.tls, settings.sender) == (
        "smtp.gov.cn", 465, "bot", "pw", "ssl", "bot@gov.cn")
    assert mail.unit_recipients(section) == {"QK": ["a@gov.cn", "b@gov.cn"]}
    assert "pw" not in repr(settings)


def test_user_without_password_and_a_bad_port_are_refused() -> None:
    base = {"PORTFOLIO_SMTP_HOST": "smtp.example.cn", "PORTFOLIO_SMTP_FROM": "a@example.cn"}
    with pytest.raises(mail.MailConfigError, match="user 与 password"):
        mail.settings_from({**base, "PORTFOLIO_SMTP_USER": "bot"}, None)
    with pytest.raises(mail.MailConfigError, match="port"):
        mail.settings_from({**base, "PORTFOLIO_SMTP_PORT": "70000"}, None)


@pytest.mark.parametrize("value", ["a@example.cn\nBcc: spy@evil.cn", "a@example.cn\r", "月报\r\nBcc: spy@evil.cn"])
def test_a_line_break_in_an_address_sender_or_subject_is_refused(value: str) -> None:
    base = {"PORTFOLIO_SMTP_HOST": "smtp.example.cn", "PORTFOLIO_SMTP_FROM": "a@example.cn"}
    with pytest.raises(mail.MailConfigError, match="不能有换行"):
        mail.parse_recipients(value) if "@" in value else mail.check_subject(value)
    with pytest.raises(mail.MailConfigError, match="不能有换行"):
        mail.settings_from({**base, "PORTFOLIO_SMTP_FROM" if "@" in value else "PORTFOLIO_SMTP_SUBJECT": value},
                           None)


def test_recipients_are_split_checked_and_deduplicated() -> None:
    assert mail.parse_recipients("a@x.cn, b@y.cn;a@x.cn，c.d+e@z.gov.cn") == ["a@x.cn", "b@y.cn", "c.d+e@z.gov.cn"]
    for bad in ("a@@x.cn", "a@x..cn", "<a@x.cn>", "a@-x.cn", "a.@x.cn"):
        with pytest.raises(mail.MailConfigError, match="不是有效的电子邮件地址"):
            mail.parse_recipients(bad)


# ---------------------------------------------------------------- delivery, through the library
def _settings(port: int, **extra: Any) -> mail.Settings:
    options: dict[str, Any] = {"tls": "none", "retry_delay": 0, "timeout": 30, **extra}
    return mail.Settings(host="127.0.0.1", port=port, sender="report@example.cn", **options)


def _letter(tmp_path: Path, *to: str) -> mail.Letter:
    attached = tmp_path / "a.xlsx"
    attached.write_bytes(b"PK\x03\x04 not really")
    return mail.Letter(list(to), "月报", "正文", None, [attached])


@pytest.mark.parametrize("smtp_server", [{"refused": {"gone@example.cn"}}], indirect=True)
def test_a_refused_recipient_is_retried_once_and_reported_the_others_get_the_mail(
        tmp_path: Path, smtp_server: Server) -> None:
    said: list[str] = []
    sleeps: list[float] = []
    results = mail.send(_settings(smtp_server.port), [_letter(tmp_path, "ok@example.cn", "gone@example.cn")],
                        say=said.append, sleep=sleeps.append)
    assert [(d.to, d.status, d.attempts) for d in results] == [("ok@example.cn", "sent", 1),
                                                             ("gone@example.cn", "failed", 2)]
    assert results[1].error == f"邮件服务器 127.0.0.1:{smtp_server.port} 拒收收件人 gone@example.cn：550 5.1.1 no such user（recipient refused）。"
    assert sleeps == [0] and len(said) == 1
    assert [rcpts for rcpts, _m in smtp_server.handler.messages] == [["ok@example.cn"]]
    assert smtp_server.handler.rcpt_seen == 3  # ok, gone, and gone once more


@pytest.mark.parametrize("smtp_server", [{"auth": True}], indirect=True)
def test_an_auth_failure_is_one_sentence_without_the_password(tmp_path: Path, smtp_server: Server) -> None:
    wrong = _settings(smtp_server.port, user="bot", password="wrong-Pa55")
    results = mail.send(wrong, [_letter(tmp_path, "ok@example.cn")], sleep=lambda _s: None)
    assert [(d.status, d.attempts) for d in results] == [("failed", 2)]
    assert results[0].error is not None and "拒绝了用户 bot 的登录" in results[0].error
    assert "wrong-Pa55" not in results[0].error and "wrong-Pa55" not in repr(wrong)
    assert smtp_server.handler.messages == []
    right = _settings(smtp_server.port, user="bot", password=PASSWORD)
    assert [d.status for d in mail.send(right, [_letter(tmp_path, "ok@example.cn")])] == ["sent"]
    (_rcpts, message), = smtp_server.handler.messages
    assert _attachments(message) == {"a.xlsx": (XLSX, b"PK\x03\x04 not really")}


def test_starttls_against_a_server_without_it_says_so(tmp_path: Path, smtp_server: Server) -> None:
    settings = _settings(smtp_server.port, tls="starttls")
    results = mail.send(settings, [_letter(tmp_path, "ok@example.cn")], sleep=lambda _s: None)
    assert results[0].status == "failed" and "STARTTLS" in (results[0].error or "")
    assert smtp_server.handler.messages == []
