"""Running a submission's code so that it cannot fool the grader.

Only the submission's own processes (its daphne server, its `manage.py` commands, anything they
start) run inside; the grading tests run in the grader's pytest process and talk to them over
sockets. One mode is chosen per machine (`mode()`, `describe()`):

  "bwrap+user"  root and bubblewrap works: a mount namespace that shows only the system, Python,
                the venv, kit/ (read-only) and the submission's own area (read-write), then the
                submission runs as an unprivileged slot user `kitgrade<N>` (created with useradd).
  "user"        root, no bubblewrap: the slot user only (kit and tests must not be world-writable;
                hidden tests should not be world-readable: gradescope's setup.sh sees to it).
  "bwrap"       not root, bubblewrap works: the same mount namespace, in a user namespace.
  "none"        neither: the submission runs with the grader's rights (a loud warning, once).

Every mode adds per-process limits (prlimit: address space, processes, open files, CPU seconds),
strips the environment to what a Django project needs, and `cleanup()` kills whatever is left
(the pid namespace dies with its first process; a slot user's processes are killed by uid).
"""

import contextlib
import fcntl
import functools
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from kit import KIT_PROJECT_FILES, PROJECT_DIR, REPO_DIR
from kit.grading import runtime

SLOT_USER = "kitgrade{}"
ENV_VAR = "KIT_SANDBOX"  # how the grader hands the sandbox to its pytest process
# Slot locks in one place for every grader on the machine, whatever its TMPDIR: a slot user's
# processes are killed when its slot is taken, so two graders must never hold the same number.
SLOT_LOCKS = Path("/tmp") if Path("/tmp").is_dir() else Path(tempfile.gettempdir())
# Environment names a Django/Channels submission needs; everything else of the grader's is dropped.
KEEP_NAMES = {
    "LANG",
    "LC_ALL",
    "TZ",
    "PYTHONUNBUFFERED",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONHASHSEED",
    "REDIS_URL",
    "CHANNEL_LAYER_PREFIX",
}
KEEP_PREFIXES = ("DJANGO_", "KIT_", "LC_")
SECRET_WORDS = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|API_KEY|PRIVATE|KIT_GRADING|KIT_SANDBOX")


LIMITS_SHIM = (
    "import json, os, resource, sys\n"
    "for name, value in json.loads(sys.argv[1]).items():\n"
    "    try:\n"
    "        resource.setrlimit(getattr(resource, 'RLIMIT_' + name), (value, value))\n"
    "    except (ValueError, OSError, AttributeError):\n"
    "        pass  # a limit this system does not have or enforce\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n"
)


@dataclass
class Limits:
    """Per-process limits of a submission's processes (prlimit), settable from the environment."""

    memory: int = int(os.environ.get("KIT_GRADE_MEMORY", 3 * 2**30))  # address space, bytes
    processes: int = int(os.environ.get("KIT_GRADE_PROCESSES", 128))  # of the slot user (or extra, userns)
    open_files: int = int(os.environ.get("KIT_GRADE_OPEN_FILES", 1024))
    cpu_seconds: int = int(os.environ.get("KIT_GRADE_CPU_SECONDS", 300))


@functools.cache
def bwrap_works():
    """True if bubblewrap is installed and can make its namespaces here (containers often forbid it)."""
    if not shutil.which("bwrap"):
        return False
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        probe = subprocess.run(
            [
                "bwrap",
                "--ro-bind",
                "/",
                "/",
                "--proc",
                "/proc",
                "--dev",
                "/dev",
                "--unshare-pid",
                "--die-with-parent",
                "true",
            ],
            capture_output=True,
            timeout=20,
        )
        return probe.returncode == 0
    return False


MODES = ("bwrap+user", "user", "bwrap", "none")


def mode():
    forced = os.environ.get("KIT_GRADE_SANDBOX")  # tests and odd machines: bwrap+user|user|bwrap|none
    if forced:
        return forced
    root = os.geteuid() == 0
    if bwrap_works():
        return "bwrap+user" if root else "bwrap"
    return "user" if root else "none"


_warned = False


def warn_if_unsandboxed(chosen):
    """Says once, loudly, on stderr, that submissions run with the grader's rights."""
    global _warned
    if chosen == "none" and not _warned:
        _warned = True
        print(
            "WARNING: no sandbox (not root, and bubblewrap is missing or cannot run here): each submission "
            "runs with YOUR rights and can read or change the kit, the hidden tests and the results. "
            "Install bubblewrap (apt-get install bubblewrap) or grade as root.",
            file=sys.stderr,
            flush=True,
        )


def describe(chosen=None):
    chosen = chosen or mode()
    return {
        "bwrap+user": "bubblewrap namespace + unprivileged slot user",
        "user": "unprivileged slot user (no bubblewrap)",
        "bwrap": "bubblewrap user namespace",
        "none": "NONE: the grader's own rights",
    }.get(chosen, f"unknown mode {chosen!r} (KIT_GRADE_SANDBOX)")


# -- slots: one unprivileged user per concurrent submission -------------------------------------
@contextlib.contextmanager
def slot():
    """A slot number no other grading process on this machine holds (a file lock), for its lifetime."""
    for number in range(256):
        path = SLOT_LOCKS / f"kit-grade-slot-{number}.lock"
        try:  # read-only and 0644: another user's grader can lock the same files (flock needs no write)
            handle = open(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW, 0o644))
        except OSError:  # a lock file this user cannot open: another number
            continue
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        try:
            yield number
        finally:
            handle.close()
        return
    raise RuntimeError("no free grading slot (256 in use)")


def ensure_user(name):
    """Creates the unprivileged slot user if missing (idempotent; root only) -> (uid, gid)."""
    with contextlib.suppress(KeyError):
        entry = pwd.getpwnam(name)
        return entry.pw_uid, entry.pw_gid
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin", name],
        check=False,
        capture_output=True,
    )  # a parallel grader may have just made it
    entry = pwd.getpwnam(name)
    return entry.pw_uid, entry.pw_gid


# -- the sandbox of one submission --------------------------------------------------------------
@dataclass
class Sandbox:
    area: str  # the submission's own directory: its project copy and its databases; nothing else is writable
    mode: str = "none"
    user: str = ""
    uid: int = -1
    gid: int = -1
    limits: Limits = None
    python: str = ""  # the interpreter run in place of the grader's (user mode: a copy the slot user reaches)
    pythonpath: str = ""  # the folder whose kit/ the submission's server imports
    library_path: str = ""  # LD_LIBRARY_PATH for that interpreter, if it needs one

    @classmethod
    def create(cls, slot_number=0, chosen=None):
        """A fresh area (a temporary directory) for one submission, owned by its slot user if root."""
        chosen = chosen or mode()
        if chosen not in MODES:
            raise ValueError(f"KIT_GRADE_SANDBOX={chosen!r}: choose one of {', '.join(MODES)}")
        warn_if_unsandboxed(chosen)
        box = cls(area=tempfile.mkdtemp(prefix="kit-submission-"), mode=chosen, limits=Limits())
        box.python, box.pythonpath = sys.executable, str(REPO_DIR)
        box.library_path = os.environ.get("LD_LIBRARY_PATH", "")
        if chosen in ("bwrap+user", "user"):
            if os.geteuid() != 0:
                raise PermissionError(f"the {chosen!r} sandbox needs root (KIT_GRADE_SANDBOX={chosen})")
            box.user = SLOT_USER.format(slot_number)
            box.uid, box.gid = ensure_user(box.user)
            box.cleanup()  # a previous grade's leftovers of this slot
            os.chown(box.area, box.uid, box.gid)
        if chosen == "user":  # no mounts: the slot user runs a copy of what it cannot reach (kit.grading.runtime)
            found = runtime.for_slot(box.uid, box.gid)
            box.python, box.pythonpath = found.python, found.pythonpath
            box.library_path = found.library_path or box.library_path
            hide_tests_from(box.uid, box.gid)
        return box

    def own(self, path):
        """Gives path (a copy made by the grader inside the area) to the slot user."""
        if self.uid < 0:
            return
        os.lchown(path, self.uid, self.gid)
        for folder, dirs, files in os.walk(path):
            for name in [folder, *(os.path.join(folder, entry) for entry in dirs + files)]:
                os.lchown(name, self.uid, self.gid)

    def to_env(self):
        return json.dumps({**asdict(self), "limits": asdict(self.limits)})

    @classmethod
    def from_env(cls, environ=os.environ):
        """The sandbox the grader handed to this (pytest) process, or None when not grading."""
        spec = environ.get(ENV_VAR)
        if not spec:
            return None
        data = json.loads(spec)
        return cls(**{**data, "limits": Limits(**data["limits"])})

    # -- the hook LiveServer calls for daphne and manage.py ----------------------------------
    def launcher(self, command, env):
        """(command, env) -> the same command wrapped in the limits and the sandbox, with a clean env."""
        command = [self.python if part == sys.executable and self.python else part for part in command]
        return self.prefix() + command, self.clean_env(env)

    def clean_env(self, env):
        kept = {
            name: value
            for name, value in env.items()
            if (name in KEEP_NAMES or name.startswith(KEEP_PREFIXES)) and not SECRET_WORDS.search(name)
        }
        # DJANGO_SECRET_KEY is the one secret a project needs: a throwaway one, never the grader's.
        kept["DJANGO_SECRET_KEY"] = "grading-only-" + os.urandom(8).hex()
        # The server is the kit's harness (kit.serving.daphne_limited, kit.harness): the repository root on the path,
        # where the sandbox shows kit/ only.
        kept["PYTHONPATH"] = self.pythonpath or str(REPO_DIR)
        if self.library_path:  # a relocated Python finds its libpython there (kit.grading.runtime)
            kept["LD_LIBRARY_PATH"] = self.library_path
        kept.update(
            PATH=f"{Path(self.python or sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            HOME=self.area,
            TMPDIR=self.area if self.mode in ("user", "none") else "/tmp",
        )
        return kept

    def prefix(self):
        nproc = self.limits.processes
        if self.mode in ("bwrap", "none"):  # RLIMIT_NPROC counts every process of our own uid
            nproc += _processes_of(os.getuid())
        limits = {
            "AS": self.limits.memory,
            "NPROC": nproc,
            "NOFILE": self.limits.open_files,
            "CPU": self.limits.cpu_seconds,
        }
        if shutil.which("prlimit"):  # util-linux, on every Linux
            command = ["prlimit", *(f"--{name.lower()}={value}" for name, value in limits.items()), "--"]
        else:  # macOS: the same limits set by a Python shim that then execs the command
            command = [sys.executable, "-c", LIMITS_SHIM, json.dumps(limits)]
        if self.mode.startswith("bwrap"):
            command += self.bwrap_args()
        if self.user:
            command += [
                "setpriv",
                f"--reuid={self.uid}",
                f"--regid={self.gid}",
                "--clear-groups",
                "--no-new-privs",
                "--",
            ]
        return command

    def bwrap_args(self):
        """A root file system of the system, Python, the venv and kit/ read-only, the area read-write."""
        venv = Path(sys.prefix)
        args = [
            "bwrap",
            "--die-with-parent",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--new-session",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--tmpfs",
            "/tmp",
        ]
        if self.mode == "bwrap":
            args.append("--unshare-user")
        for system in ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64"):
            args += ["--ro-bind-try", system, system]
        kit = REPO_DIR / "kit"  # the harness the server imports; tests/ (hidden tests) stays out of sight
        binds = [
            (Path(sys.base_prefix).resolve(), Path(sys.base_prefix).resolve()),
            (venv.resolve(), venv.resolve()),
            (venv.resolve(), venv.absolute()),  # a symlinked .venv
            (kit.resolve(), kit),
            *[((PROJECT_DIR / name).resolve(), PROJECT_DIR / name) for name in KIT_PROJECT_FILES],
        ]
        # bwrap makes missing mount points 0700, which the slot user could not cross: make them 0755.
        parents = sorted(
            {
                str(parent)
                for _, target in binds + [(None, Path(self.area))]
                for parent in target.parents
                if str(parent) not in ("/", "/tmp")
            }
        )
        for parent in parents:
            args += ["--perms", "0755", "--dir", parent]
        for source, target in dict.fromkeys(binds):
            args += ["--ro-bind", str(source), str(target)]
        return args + ["--bind", self.area, self.area, "--"]

    # -- after the grade ---------------------------------------------------------------------------
    def cleanup(self):
        """Kills every process of the slot user (the pid namespace already took its own with it)."""
        if self.uid <= 0:
            return 0
        victims = [
            process
            for process in psutil.process_iter(["uids"])
            if process.info["uids"] and self.uid in (process.info["uids"].real, process.info["uids"].effective)
        ]
        for process in victims:
            with contextlib.suppress(psutil.Error):
                process.kill()
        psutil.wait_procs(victims, timeout=5)
        return len(victims)

    def remove(self):
        self.cleanup()
        shutil.rmtree(self.area, ignore_errors=True)


def hide_tests_from(uid, gid):
    """user mode: the slot user sees the real file system, so the grading tests (hidden ones
    included) must be out of its reach. If they are not (a checkout others can enter), their folder
    loses its permissions for others (chmod o-rwx), said once; the canary checks the result."""
    grading = REPO_DIR / "tests" / "grading"
    hidden = next(grading.glob("*_hidden.py"), None)
    if hidden is None or runtime.first_blocked(hidden, uid, gid) is not None:
        return
    os.chmod(grading, os.stat(grading).st_mode & ~0o007)
    print(f"Made {grading} unreadable to other users (chmod o-rwx): it holds the hidden tests.", file=sys.stderr)


def _processes_of(uid):
    return sum(
        1 for process in psutil.process_iter(["uids"]) if process.info["uids"] and process.info["uids"].real == uid
    )
