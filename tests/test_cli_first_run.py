"""A new user's first run, true to today (issue 10, items 3 and 6): ``srz demo`` at a
date after the bundled plan's year shows the year that is running, labelled as the 2023
obligations carried over, and says why; the bundled files are named without a path from
any directory; a wheel carries them inside the package; ``scripts/test`` stops the
PostgreSQL server it started."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

from tests.srz_cli_helpers import row_counts, srz, srz_json

ROOT = Path(__file__).resolve().parent.parent
TODAY = "2026-12-01T10:00"  # the real date when issue 10 was written


def test_demo_after_the_plan_year_shows_the_running_year(db_url: str) -> None:
    out = srz(db_url, "demo", "--now", TODAY).stdout
    assert "实施方案 gx-srz-2023：" in out and "年度 2023、2026" in out
    assert "今天是 2026年12月1日" in out and "内置实施方案是 2023 年度的" in out
    assert "2026 年度（沿用 2023 年实施方案的义务与日期）任务总览" in out
    assert "2023 年度另有" in out  # the plan's own year is named beside it
    tasks = srz_json(db_url, "tasks", "--now", TODAY)
    years = {t["due_on"][:4] for t in tasks}
    assert years == {"2023", "2026"}
    this_year = [t for t in tasks if t["due_on"].startswith("2026")]
    # The overview counts the shown year only.
    assert f"│ 南宁市   │ {sum(1 for t in this_year if t['city'] == '南宁市')} " in out
    upcoming = [t for t in this_year if t["due_on"] >= "2026-12-01"]
    assert upcoming and all(t["status"] == "open" for t in upcoming)
    # Again: harmless, nothing new.
    before = row_counts(db_url)
    again = srz(db_url, "demo", "--now", TODAY).stdout
    assert "示例名录" not in again and "沿用 2023 年" in again
    assert row_counts(db_url)["tasks"] == before["tasks"]


def test_demo_in_the_plan_year_shows_that_year(db_url: str) -> None:
    out = srz(db_url, "demo", "--now", "2023-11-01T10:00").stdout
    assert "2023 年度任务总览" in out and "沿用" not in out and "另有" not in out
    assert "年度 2023" in out and "2026" not in out


def test_status_and_dry_run_at_today_read_plainly(db_url: str) -> None:
    srz(db_url, "demo", "--now", TODAY)
    status = srz(db_url, "status", code=3).stdout
    assert "2000-01-01" not in status and "待下一轮执行时安排" in status
    result = srz(db_url, "remind", "--now", TODAY, "--dry-run")
    assert result.stdout.startswith("演练：2026年12月1日 10:00（北京时间）执行一次提醒")
    assert "不发送，也不写入数据库" in result.stdout
    assert "提醒节点" not in result.stdout and "2000-01-01" not in result.stdout


def test_bundled_files_are_named_from_any_directory(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    srz(db_url, "init")
    assert "校验通过（gx-srz-2023" in srz(None, "plan", "check", "gx-srz-2023").stdout
    assert "校验通过" in srz(None, "plan", "check", "schedules/gx-srz-2023.yaml").stdout
    assert "校验通过" in srz(None, "plan", "check", "gx-srz-2023.yaml").stdout
    out = srz(db_url, "plan", "load", "gx-srz-2023", "--now", "2023-11-01T10:00").stdout
    assert "已导入方案 gx-srz-2023" in out
    out = srz(db_url, "org", "import", "sample-institutions", "sample-contacts").stdout
    assert "机构新增 24" in out
    # A name that is neither a file nor shipped: the file is missing, nothing written.
    before = row_counts(db_url)
    result = srz(db_url, "plan", "load", "gx-srz-2099", code=2)
    assert "gx-srz-2099" in result.stderr and "无法读取文件" in result.stderr
    assert row_counts(db_url) == before


def test_a_file_of_the_same_name_in_the_directory_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from srz_tracker.resources import SCHEDULES, bundled_dir, resolve_input_file

    monkeypatch.chdir(tmp_path)
    assert resolve_input_file("gx-srz-2023") == bundled_dir(SCHEDULES) / "gx-srz-2023.yaml"
    (tmp_path / "gx-srz-2023").write_text("mine", encoding="utf-8")
    assert resolve_input_file("gx-srz-2023") == Path("gx-srz-2023")
    assert resolve_input_file("other/gx-srz-2023.yaml") == Path("other/gx-srz-2023.yaml")


def test_the_wheel_lists_every_package() -> None:
    from setuptools import find_packages

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools_cfg = config["tool"]["setuptools"]
    listed = set(setuptools_cfg["packages"])
    found = set(find_packages(where=str(ROOT), include=["srz_tracker*"]))
    data = set(setuptools_cfg["package-dir"])
    assert listed == found | data, "add the new package to [tool.setuptools] packages"
    assert {"srz_tracker.data.schedules", "srz_tracker.data.email_templates"} == data
    assert "data-files" not in setuptools_cfg  # nothing loose under share/


def _pip(python: Path, *args: str) -> None:
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *args],
        check=True,
        timeout=600,
    )


@pytest.mark.slow
def test_an_installed_wheel_runs_the_demo_from_anywhere(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)],
        check=True,
        timeout=600,
        capture_output=True,
    )
    [wheel] = wheels.glob("srz_tracker-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    _pip(python, "--no-deps", str(wheel))
    # The dependencies come from this test environment (no download): its site-packages
    # joins the new venv's path after the venv's own, where srz_tracker now lives. A path
    # in a .pth file is not a site directory, so the checkout's editable finder stays out.
    [site_packages] = venv.glob("lib/python3*/site-packages")
    (site_packages / "zz_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(home),
        "COLUMNS": "160",
        "SRZ_USER": "测试员",
    }
    srz_bin = str(venv / "bin" / "srz")

    def run(*args: str) -> str:
        result = subprocess.run(
            [srz_bin, *args], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    # The package comes from the venv, not from this checkout; its data from inside it.
    where = subprocess.run(
        [str(python), "-c", "import srz_tracker.resources as r; print(r.bundled_dir('schedules'))"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert where.startswith(str(venv)) and where.endswith("srz_tracker/data/schedules"), where
    assert not (venv / "share" / "srz-tracker").exists()
    out = run("demo", "--now", TODAY)
    assert "沿用 2023 年实施方案" in out and "示例名录：24 个机构" in out
    assert (home / ".local" / "share" / "srz-tracker" / "srz.db").is_file()
    assert "已更新方案 gx-srz-2023" in run("plan", "load", "gx-srz-2023", "--now", TODAY)
    assert "通过" in run("templates", "check")
    assert "演练" in run("remind", "--dry-run", "--now", TODAY)


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
def test_the_test_server_script_stops_what_it_started() -> None:
    if not any(Path("/usr/lib/postgresql").glob("*/bin/initdb")) and not shutil.which("initdb"):
        pytest.skip("no PostgreSQL binaries")
    port = 54390 + os.getpid() % 9
    # Not under pytest's tmp_path: as root the server runs as "postgres", which must reach it.
    data = Path(f"/tmp/srz-pgtest-stop-{os.getpid()}")
    env = {**os.environ, "SRZ_PG_PORT": str(port), "SRZ_PG_DIR": str(data)}
    flag = data.with_suffix(".started")
    script = str(ROOT / "scripts" / "pg-test-server")
    try:
        url = subprocess.run(
            [script, "--started-flag", str(flag)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout.strip()
        assert url.endswith(f":{port}/postgres") and flag.exists() and _port_open(port)
        flag.unlink()
        # Found running: not "started", so a second scripts/test would leave it alone.
        subprocess.run([script, "--started-flag", str(flag)], env=env, check=True, timeout=60)
        assert not flag.exists()
    finally:
        subprocess.run([script, "--stop"], env=env, check=True, timeout=120)
        shutil.rmtree(data, ignore_errors=True)
        flag.unlink(missing_ok=True)
    assert not _port_open(port)
    text = (ROOT / "scripts" / "test").read_text(encoding="utf-8")
    assert "trap 'scripts/pg-test-server --stop' EXIT" in text
