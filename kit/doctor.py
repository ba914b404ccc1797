"""`make doctor`: is this machine ready for the kit? One OK or FAIL line per requirement.

Each FAIL names the one command that fixes it; the exit status is 1 if anything failed.
Modelled on the environment check of rasbt's LLMs-from-scratch. Only the standard library is
needed up front, so it also runs (and says what to install) before `make setup`.

    python -m kit.doctor [--requirements requirements.txt]
"""

import argparse
import importlib
import importlib.metadata
import importlib.util
import os
import platform
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from kit import REPO_DIR
from kit.serving.ports import port_is_free

CHROMIUM_NAMES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
MAC_CHROME = "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"


def find_chromium():
    """The Chromium or Chrome executable to drive: KIT_CHROMIUM, else the usual names; or None."""
    explicit = os.environ.get("KIT_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    for name in CHROMIUM_NAMES:
        found = name if Path(name).is_file() else shutil.which(name)
        if found:
            return found
    return MAC_CHROME if Path(MAC_CHROME).is_file() else None


MIN_PYTHON = (3, 11)
SETUP = "make setup"
SETUP_DEV = "make setup-dev"
WELL_KNOWN_PORTS = {8000: "runserver / make demo", 8888: "JupyterLab"}
PIN = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*==\s*([^\s;#]+)")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self):
        text = f"{'OK  ' if self.ok else 'FAIL'}  {self.name}: {self.detail}"
        return text if self.ok else f"{text}\n        fix: {self.fix}"


def check_python(minimum=MIN_PYTHON):
    """The running Python is new enough; make lab's venv needs the venv and ensurepip modules."""
    version = ".".join(map(str, sys.version_info[:3]))
    wanted = ".".join(map(str, minimum))
    checks = [
        Check(
            "Python",
            sys.version_info[:2] >= minimum,
            f"{version} ({sys.executable}); {wanted}+ needed",
            "sudo apt install python3.11  (macOS: brew install python@3.12)",
        )
    ]
    missing = [name for name in ("venv", "ensurepip") if importlib.util.find_spec(name) is None]
    checks.append(
        Check(
            "venv module",
            not missing,
            f"missing: {', '.join(missing)}" if missing else "present",
            "sudo apt install python3-venv  (stock Debian/Ubuntu leave it out)",
        )
    )
    return checks


def pinned(requirements):
    """(distribution, pinned version) for each `name==version` line of a requirements file."""
    pins = []
    for line in requirements.read_text().splitlines():
        match = PIN.match(line)
        if match:
            pins.append((match.group(1), match.group(2)))
    return pins


def _modules_to_import(distribution):
    """The module named like the distribution (channels-redis -> channels_redis), else every
    top-level module it installs (a distribution may be named unlike its module)."""
    wanted = re.sub(r"[-_.]+", "-", distribution).lower()
    modules = sorted(
        module
        for module, dists in importlib.metadata.packages_distributions().items()
        if not module.startswith("_") and any(re.sub(r"[-_.]+", "-", d).lower() == wanted for d in dists)
    )
    same_name = wanted.replace("-", "_")
    return [same_name] if same_name in modules else modules


def check_package(distribution, pin, fix=SETUP):
    """Installed at the pinned version, and its modules import."""
    try:
        version = importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return Check(distribution, False, f"not installed ({pin} pinned)", fix)
    if version != pin:
        return Check(distribution, False, f"{version} installed, {pin} pinned", fix)
    for module in _modules_to_import(distribution):
        try:
            importlib.import_module(module)
        except Exception as exc:  # any import failure is this check's finding, not a crash
            return Check(distribution, False, f"{version}, but `import {module}` fails: {exc!r}", fix)
    return Check(distribution, True, version)


def check_requirements(path, fix=SETUP):
    return [check_package(name, pin, fix) for name, pin in pinned(path)]


def check_redis():
    """A Redis found or started (kit/serving/redis_service.py, the contract's order), its version; stopped again."""
    fix = "sudo apt install redis-server  (macOS: brew install redis; or set REDIS_URL)"
    from kit.serving import redis_service

    try:
        with redis_service.running(quiet=True, install=False) as redis:
            version = ".".join(map(str, redis_service.server_version(redis.url)))
            shards = redis_service.shard_urls(redis.url)
            where = f"{len(shards)} shards: {', '.join(shards)}" if len(shards) > 1 else redis.url
            return Check("Redis", True, f"{version} at {where} ({redis.source}; stopped again if started)")
    except redis_service.RedisUnavailable as exc:
        return Check("Redis", False, str(exc), fix)
    except ImportError as exc:  # the redis client is not installed yet
        return Check("Redis", False, f"the kit cannot look for one: {exc}", SETUP)


def check_test_tools():
    """pytest runs the notebooks' self-checks; Playwright and a Chromium run the page tests."""
    checks = []
    for module in ("pytest", "pytest_asyncio", "pytest_timeout", "playwright"):
        present = importlib.util.find_spec(module) is not None
        checks.append(Check(module, present, "importable" if present else "not installed", SETUP_DEV))
    chromium = find_chromium()
    checks.append(
        Check(
            "Chromium (browser tests)",
            chromium is not None,
            chromium or "not found",
            "sudo apt install chromium  (macOS: brew install --cask chromium; or set KIT_CHROMIUM)",
        )
    )
    return checks


def check_ports():
    """127.0.0.1 hands out free ports (the kit's servers take one); the usual ports are reported."""
    if not port_is_free(0):
        return [Check("free ports", False, "cannot listen on 127.0.0.1", "sudo ip link set lo up")]
    usual = ", ".join(
        f"{port} {'free' if port_is_free(port) else 'in use (another is taken)'} ({what})"
        for port, what in WELL_KNOWN_PORTS.items()
    )
    return [Check("free ports", True, f"127.0.0.1 has free ports; {usual}")]


def run_checks(requirements=REPO_DIR / "requirements.txt"):
    return [*check_python(), *check_requirements(requirements), check_redis(), *check_test_tools(), *check_ports()]


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m kit.doctor", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requirements", type=lambda p: REPO_DIR / p, default=REPO_DIR / "requirements.txt")
    args = parser.parse_args(argv)
    print(f"Checking this machine for the kit ({platform.system()} {platform.machine()}):", flush=True)
    checks = run_checks(args.requirements)
    for check in checks:
        print(check.line(), flush=True)
    failed = [check for check in checks if not check.ok]
    print(f"\n{len(failed)} of {len(checks)} checks failed." if failed else f"\nAll {len(checks)} checks passed.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
