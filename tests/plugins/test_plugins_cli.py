"""`tessera plugins list` in a shell, as an admin runs it: the example plugin with its version
and what it provides (exit 0); with plugins switched off, none (exit 0)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _run(db_url: str, tmp_path: Path, plugins: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TESSERA_DATABASE_URL": db_url, "TESSERA_PLUGINS": plugins,
           "TESSERA_ATTACHMENTS_DIR": str(tmp_path / "files")}
    return subprocess.run([sys.executable, "-m", "tessera.cli", "plugins", "list"], env=env, capture_output=True,
                          text=True, timeout=120)


def test_the_command_lists_the_example_plugin_with_what_it_provides(db_url: str, tmp_path: Path) -> None:
    done = _run(db_url, tmp_path, "on")
    assert done.returncode == 0, done.stderr
    assert "example              loaded   tessera-example-plugin 1.0.0" in done.stdout
    assert "provides field type iban" in done.stdout and "provides function IBAN_COUNTRY" in done.stdout


def test_with_plugins_off_none_is_installed(db_url: str, tmp_path: Path) -> None:
    done = _run(db_url, tmp_path, "off")
    assert done.returncode == 0, done.stderr
    assert "no plugins installed" in done.stdout
