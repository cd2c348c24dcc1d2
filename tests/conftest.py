"""Shared fixtures: an empty database with the reference configuration, and the sample plan."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from portfolio import store

# Every import keeps a backup first (portfolio/backup.py, on by default); tests that are not about
# it skip the copy, which would add a third to the import tests' time. test_backup.py turns it on.
os.environ.setdefault("PORTFOLIO_BACKUP_BEFORE_IMPORT", "0")


@pytest.fixture(scope="session")
def _reference_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ref") / "reference.duckdb"
    store.init_db(path)
    return path


@pytest.fixture
def empty_db(tmp_path: Path, _reference_db_template: Path) -> Path:
    """A fresh database with schema and reference data, no projects (a private copy)."""
    path = tmp_path / "portfolio.duckdb"
    shutil.copy(_reference_db_template, path)
    return path


@pytest.fixture
def con(empty_db: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection to a fresh reference-only database."""
    with store.connect(empty_db) as connection:
        yield connection


@pytest.fixture(scope="session")
def sample_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample plan built once per test session; copy it before writing to it."""
    pytest.importorskip("portfolio.sample", reason="the sample plan module has not landed yet")
    path = tmp_path_factory.mktemp("sample") / "sample.duckdb"
    store.init_db(path, sample=True)
    return path


@pytest.fixture
def sample_db(tmp_path: Path, sample_db_template: Path) -> Path:
    """A private, writable copy of the sample plan database."""
    path = tmp_path / "sample.duckdb"
    shutil.copy(sample_db_template, path)
    return path
