"""scripts/render-messages renders every key of every catalog, plural entries for 1, 2 and 5, without error; and
says which entry it could not render."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from auxil.locales import more_locales
from bot.i18n import Catalogs, locales_dir, placeholders

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "render-messages"
EIGHT = ("zh_TW", "ja", "ko", "vi", "ru", "es")


def run(locales: Path | None = None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **({"INDEXBOT_LOCALES": str(locales)} if locales is not None else {})}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=120, check=False)


def check_every_key(out: str, catalogs: Catalogs) -> None:
    lines = out.splitlines()
    for locale in catalogs.locales:
        shown = {}
        for line in lines:
            found = re.match(rf"^{locale} (\S+)(?: \[n=(\d+)\])?: (.*)$", line)
            if found:
                shown[(found[1], found[2])] = found[3]
        for key, text in catalogs.entries[locale].items():
            samples = [("1", "2", "5"), (None,)][key not in catalogs.plurals[locale]]
            for n in samples:
                assert (key, n) in shown, (locale, key, n)
                assert not any("{" + name + "}" in shown[(key, n)] for name in placeholders(text)), (locale, key)
        assert len(shown) >= len(catalogs.entries[locale]) > 300


def test_renders_every_key_of_the_shipped_catalogs() -> None:
    done = run()
    assert done.returncode == 0 and done.stderr == "", done.stderr
    check_every_key(done.stdout, Catalogs())
    assert "en error.pin.wrong [n=1]: Wrong PIN. 1 try left" in done.stdout
    assert "en error.pin.wrong [n=2]: Wrong PIN. 2 tries left" in done.stdout


def test_renders_eight_languages(tmp_path: Path) -> None:
    folder = more_locales(tmp_path, tuple(c for c in EIGHT if not (locales_dir() / c).exists()))
    done = run(folder)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    check_every_key(done.stdout, Catalogs(folder))
    assert set(Catalogs(folder).locales) >= {"en", "zh_CN", *EIGHT}


def test_names_an_entry_it_cannot_render(tmp_path: Path) -> None:
    folder = more_locales(tmp_path, ())
    po = folder / "zh_CN" / "LC_MESSAGES" / "messages.po"
    po.write_text(po.read_text(encoding="utf-8").replace('msgstr "指数"', 'msgstr "指数 {broken"', 1), encoding="utf-8")
    done = run(folder, "--locale", "zh_CN")
    assert done.returncode == 1 and "zh_CN button.indexes: cannot be rendered" in done.stderr, done.stderr
