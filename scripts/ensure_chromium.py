"""Make sure Debian's headless Chromium is at /usr/bin/chromium for the browser tests.

    python scripts/ensure_chromium.py

Present: nothing to do. Missing and root on a system with apt-get (CI): installs the
`chromium` package. Missing otherwise: says how to install it and exits 0 (the tests then
skip locally; under CI=true they fail instead of skipping).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

CHROMIUM = Path(os.environ.get("AGENT_STORAGE_TEST_CHROMIUM", "/usr/bin/chromium"))


def main() -> int:
    if CHROMIUM.exists():
        return 0
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        print(f"ensure_chromium: {CHROMIUM} is missing; install it with "
              "`sudo apt-get install chromium` (the ui tests need it)", file=sys.stderr)
        return 0
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print("ensure_chromium: installing Debian's chromium (apt-get)", flush=True)
    subprocess.run([apt, "update", "-qq"], check=True, env=env)
    subprocess.run([apt, "install", "-y", "-qq", "chromium"],
                   check=True, env=env)
    return 0 if CHROMIUM.exists() else 1


if __name__ == "__main__":
    sys.exit(main())
