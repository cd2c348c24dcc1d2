"""Local mode: which requests count as this machine, the [auth] check, and `portfolio serve`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from portfolio import access, cli, local_mode
from portfolio.local_mode import Client, refusal_reason

ROOT = Path(__file__).resolve().parents[1]
GOOD_AUTH = {
    "redirect_uri": "https://portfolio.gxj.example.gov.cn/oauth2callback",
    "cookie_secret": "0123456789abcdef0123456789abcdef",
    "client_id": "portfolio",
    "client_secret": "from-the-provider",
    "server_metadata_url": "https://sso.example.gov.cn/realms/gxj/.well-known/openid-configuration",
}


# ---------------------------------------------------------------- which requests are local
@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.1.1", "::1", "[::1]", "::ffff:127.0.0.1"])
def test_a_direct_loopback_browser_is_local(address: str) -> None:
    assert refusal_reason(Client(address, (("host", "localhost:8501"), ("origin", "http://localhost:8501")))) is None


@pytest.mark.parametrize("origin", ["http://localhost:8501", "http://127.0.0.1:8501", "http://[::1]:8501",
                                    "http://app.localhost:8501"])
def test_a_page_opened_at_a_local_name_is_local(origin: str) -> None:
    assert refusal_reason(Client("127.0.0.1", (("origin", origin),))) is None


@pytest.mark.parametrize("address", ["192.0.2.7", "10.1.2.3", "fd00::2", "0.0.0.0", "::", "::ffff:10.0.0.1",
                                     "not-an-ip"])
def test_another_address_is_remote(address: str) -> None:
    assert refusal_reason(Client(address)) == "remote"


@pytest.mark.parametrize("address", [None, "", "  "])
def test_an_unknown_address_is_refused_not_trusted(address: str | None) -> None:
    assert refusal_reason(Client(address)) == "unknown"


@pytest.mark.parametrize("header", [
    ("X-Forwarded-For", "203.0.113.5"), ("x-forwarded-for", "127.0.0.1"), ("X-Real-IP", "10.0.0.9"),
    ("Forwarded", "for=192.0.2.60;proto=http"), ("Forwarded", 'for="[::1]"'), ("Via", "1.1 gateway"),
    ("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "portfolio.gxj.example.gov.cn"),
    ("True-Client-IP", "198.51.100.4"),
])
def test_any_proxy_header_makes_a_loopback_request_proxied(header: tuple[str, str]) -> None:
    assert refusal_reason(Client("127.0.0.1", (header,))) == "proxy"


def test_an_empty_proxy_header_names_nobody() -> None:
    assert refusal_reason(Client("127.0.0.1", (("x-forwarded-for", " "),))) is None


@pytest.mark.parametrize("origin", ["https://portfolio.gxj.example.gov.cn", "http://evil.example:8501", "null",
                                    "http://192.0.2.2:8501", "http://0.0.0.0:8501", "::garbage"])
def test_a_foreign_origin_is_refused(origin: str) -> None:
    # a proxy that adds no header, a page of another site, a DNS name rebound to 127.0.0.1
    assert refusal_reason(Client("127.0.0.1", (("origin", origin),))) == "origin"


def test_the_remote_address_is_reported_before_the_headers() -> None:
    assert refusal_reason(Client("192.0.2.7", (("x-forwarded-for", "192.0.2.7"),))) == "remote"


@pytest.mark.parametrize(("address", "loopback"), [
    ("127.0.0.1", True), ("localhost", True), ("::1", True), ("[::1]", True), ("127.0.0.2", True),
    ("0.0.0.0", False), ("::", False), ("", False), ("192.0.2.2", False), ("fd00::2", False),
    ("no-such-host.invalid", False),
])
def test_a_bind_address_is_loopback_only_when_nothing_else_can_connect(address: str, loopback: bool) -> None:
    assert local_mode.binds_loopback_only(address) is loopback


@pytest.mark.parametrize(("value", "expected"), [
    (None, False), ("", False), ("0", False), ("false", False), ("No", False), ("off", False),
    ("1", True), ("true", True), ("YES", True), ("on", True), ("readonly", True),  # unknown: the safe side
])
def test_read_only_is_read_from_the_environment(value: str | None, expected: bool) -> None:
    env = {} if value is None else {local_mode.READ_ONLY_ENV: value}
    assert local_mode.read_only(env) is expected


def test_as_viewer_keeps_the_person_and_drops_every_right() -> None:
    admin = access.User("wang@gxj.cn", "admin", name="王")
    unit = access.User("li@qk.cn", "unit", unit_id="QK")
    for who in (admin, unit, access.LOCAL_USER):
        viewer = access.as_viewer(who)
        assert (viewer.user_id, viewer.role, viewer.unit_id) == (who.user_id, "viewer", None)
        assert not any(access.can(viewer, a) for a in ("edit_project", "import", "manage_users", "create_project"))
    assert access.VISITOR.role == "viewer"


# ---------------------------------------------------------------- the [auth] table
def test_a_complete_auth_table_has_no_problem() -> None:
    assert local_mode.auth_problems(GOOD_AUTH) == []


@pytest.mark.parametrize("key", local_mode.AUTH_KEYS)
def test_each_missing_key_is_named(key: str) -> None:
    section = {k: v for k, v in GOOD_AUTH.items() if k != key}
    assert local_mode.auth_problems(section) == [local_mode.AuthProblem(key, "missing")]


@pytest.mark.parametrize(("change", "problem"), [
    ({"cookie_secret": "x" * 31}, ("cookie_secret", "short")),
    ({"cookie_secret": local_mode.EXAMPLE_COOKIE_SECRET}, ("cookie_secret", "example")),
    ({"client_id": ""}, ("client_id", "empty")),
    ({"client_secret": 42}, ("client_secret", "empty")),
    ({"server_metadata_url": "sso.example.gov.cn/realms"}, ("server_metadata_url", "not_url")),
    ({"redirect_uri": "https://portfolio.gxj.example.gov.cn/"}, ("redirect_uri", "callback")),
])
def test_an_unusable_value_is_named(change: dict, problem: tuple[str, str]) -> None:
    assert local_mode.auth_problems({**GOOD_AUTH, **change}) == [local_mode.AuthProblem(*problem)]


def test_auth_that_is_not_a_table_is_a_problem() -> None:
    assert local_mode.auth_problems("portfolio") == [local_mode.AuthProblem("auth", "not_table")]


def test_a_problem_reads_as_a_sentence_in_both_languages() -> None:
    problem = local_mode.AuthProblem("cookie_secret", "short")
    assert problem.sentence("zh") == "`cookie_secret` 太短，至少需要 32 个字符。"
    assert problem.sentence("en") == "`cookie_secret` is too short: at least 32 characters are needed."


def test_the_example_secrets_file_is_not_usable_as_it_stands() -> None:
    section = local_mode.load_auth_section([ROOT / ".streamlit" / "secrets.example.toml"])
    assert local_mode.AuthProblem("cookie_secret", "example") in local_mode.auth_problems(section)


def test_later_secrets_files_override_earlier_ones(tmp_path: Path) -> None:
    home, project = tmp_path / "home.toml", tmp_path / "project.toml"
    home.write_text('[auth]\nclient_id = "home"\n', encoding="utf-8")
    project.write_text('[auth]\nclient_id = "project"\n[mail]\nhost = "smtp"\n', encoding="utf-8")
    assert local_mode.load_auth_section([home, project]) == {"client_id": "project"}
    assert local_mode.load_auth_section([tmp_path / "missing.toml"]) is None


def test_secrets_without_auth_mean_local_mode(tmp_path: Path) -> None:
    only_mail = tmp_path / "secrets.toml"
    only_mail.write_text('[mail]\nhost = "smtp"\n', encoding="utf-8")
    assert local_mode.load_auth_section([only_mail]) is None


def test_a_secrets_file_that_is_not_toml_is_unreadable_not_absent(tmp_path: Path) -> None:
    broken = tmp_path / "secrets.toml"
    broken.write_text("[auth\nclient_id = ", encoding="utf-8")
    with pytest.raises(local_mode.SecretsUnreadable, match="无法读取登录设置文件"):
        local_mode.load_auth_section([broken])


def test_streamlits_secrets_locations_in_its_order(tmp_path: Path) -> None:
    paths = local_mode.secrets_paths(app_dir=tmp_path / "app", cwd=tmp_path / "cwd", home=tmp_path / "home")
    assert paths == [(tmp_path / d / ".streamlit" / "secrets.toml").resolve() for d in ("home", "cwd", "app")]
    assert len(local_mode.secrets_paths(app_dir=tmp_path, cwd=tmp_path, home=tmp_path)) == 1


# ---------------------------------------------------------------- portfolio serve
@pytest.fixture
def no_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory and home without secrets (the project's own must not exist either)."""
    if (ROOT / ".streamlit" / "secrets.toml").exists():
        pytest.skip("this checkout has a .streamlit/secrets.toml of its own")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv(local_mode.READ_ONLY_ENV, raising=False)
    return tmp_path


def _serve(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, HOME=str(cwd))
    env.pop(local_mode.READ_ONLY_ENV, None)
    return subprocess.run([sys.executable, "-m", "portfolio.cli", "serve", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "192.0.2.2"])
def test_serve_on_the_network_without_sign_in_refuses(no_secrets: Path, address: str) -> None:
    run = _serve(["--address", address, "--port", "1"], no_secrets)
    assert run.returncode == 2
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "docs/access.md" in lines[0] and "--read-only" in lines[0]
    assert "Traceback" not in run.stderr


def test_serve_with_a_broken_sign_in_section_refuses_with_the_reason(no_secrets: Path) -> None:
    (no_secrets / ".streamlit").mkdir()
    (no_secrets / ".streamlit" / "secrets.toml").write_text(
        '[auth]\nclient_id = "portfolio"\ncookie_secret = "short"\n', encoding="utf-8")
    run = _serve(["--address", "127.0.0.1", "--port", "1"], no_secrets)
    assert run.returncode == 2
    assert "缺少 `redirect_uri`" in run.stderr and "docs/access.md" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_serve_with_an_unreadable_secrets_file_refuses(no_secrets: Path) -> None:
    (no_secrets / ".streamlit").mkdir()
    (no_secrets / ".streamlit" / "secrets.toml").write_text("[auth\n", encoding="utf-8")
    run = _serve(["--address", "0.0.0.0", "--read-only", "--port", "1"], no_secrets)
    assert run.returncode == 2
    assert "无法读取登录设置文件" in run.stderr


def _captured_serve(monkeypatch: pytest.MonkeyPatch, args: list[str]) -> tuple[int, list[str], dict[str, str]]:
    seen: dict[str, object] = {}

    def fake_call(cmd: list[str], env: dict[str, str]) -> int:
        seen.update(cmd=cmd, env=env)
        return 0

    monkeypatch.setattr(subprocess, "call", fake_call)
    result = CliRunner().invoke(cli.app, ["serve", *args])
    return result.exit_code, seen.get("cmd", []), seen.get("env", {})  # type: ignore[return-value]


def test_serve_read_only_on_the_network_starts_the_app_with_every_visitor_a_viewer(
        no_secrets: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, cmd, env = _captured_serve(monkeypatch, ["--address", "0.0.0.0", "--read-only", "--port", "8600"])
    assert code == 0
    assert cmd[cmd.index("--server.address") + 1] == "0.0.0.0"
    assert env[local_mode.READ_ONLY_ENV] == "1"


def test_serve_on_loopback_starts_the_app_in_local_mode(no_secrets: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, cmd, env = _captured_serve(monkeypatch, [])
    assert code == 0
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1"
    assert local_mode.READ_ONLY_ENV not in env


def test_serve_on_the_network_with_sign_in_configured_starts(no_secrets: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (no_secrets / ".streamlit").mkdir()
    lines = "\n".join(f'{k} = "{v}"' for k, v in GOOD_AUTH.items())
    (no_secrets / ".streamlit" / "secrets.toml").write_text(f"[auth]\n{lines}\n", encoding="utf-8")
    code, cmd, env = _captured_serve(monkeypatch, ["--address", "0.0.0.0"])
    assert code == 0
    assert local_mode.READ_ONLY_ENV not in env


def test_every_problem_is_reported_at_once() -> None:
    section = {"client_id": "portfolio", "cookie_secret": "short", "redirect_uri": "localhost:8501"}
    assert local_mode.auth_problems(section) == [
        local_mode.AuthProblem("client_secret", "missing"),
        local_mode.AuthProblem("server_metadata_url", "missing"),
        local_mode.AuthProblem("cookie_secret", "short"),
        local_mode.AuthProblem("redirect_uri", "not_url"),
    ]
