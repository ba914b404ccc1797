"""The canary: proof, before anyone is graded, that a submission's process can start in the chosen
sandbox mode, with the same user, paths, venv and limits as grading.

    kit.grading.canary.prove(box, project_copy)   # -> None, or raises SandboxNotReady(reason, fix)

A small Python program runs through the sandbox's launcher, exactly as `manage.py` and the server
will: the kit's Python starts, Django, Channels, daphne and the kit's server import, the
submission's copy is readable and writable, a socket binds on 127.0.0.1. In the modes that isolate,
it also checks that the hidden tests cannot be read and the kit and the tests cannot be written.

This is what tells the grader's failures from a submission's: if the canary fails, no submission
could have started and the grader is at fault (nothing is scored); if it passes and a submission's
own start fails, the submission is.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from kit import REPO_DIR
from kit.grading import runtime
from kit.grading.errors import SandboxNotReady

PROBE = r"""
import json, os, socket, sys
args = json.loads(sys.argv[1])
found = {"python": sys.executable}
def attempt(name, action):
    try:
        action()
        found[name] = ""
    except BaseException as exc:
        found[name] = f"{type(exc).__name__}: {exc}"[:300]
def imports():
    import django, channels, channels_redis, daphne.server, kit.serving.daphne_limited, kit.harness
def readable():
    os.listdir(".")
    open("manage.py", "rb").close()
def writable():
    for folder in (".", os.environ.get("HOME", ".")):
        path = os.path.join(folder, ".kit-canary")
        with open(path, "w") as handle:
            handle.write("ok")
        os.remove(path)
def binds():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
attempt("imports", imports)
attempt("readable", readable)
attempt("writable", writable)
attempt("binds", binds)
leaks = []
for path in args["unreadable"]:
    try:
        open(path, "rb").close()
        leaks.append(f"can read {path}")
    except OSError:
        pass
for path in args["unwritable"]:
    try:
        if os.path.isdir(path):
            probe = os.path.join(path, ".kit-canary-write")
            open(probe, "w").close()
            os.remove(probe)
        else:
            open(path, "a").close()  # opened for appending, nothing written
        leaks.append(f"can write {path}")
    except OSError:
        pass
found["isolated"] = "; ".join(leaks)
print("CANARY " + json.dumps(found), flush=True)
"""

CHECKS = {
    "imports": "the kit's Python cannot import Django, Channels, daphne and the kit's server",
    "readable": "the submission's copy cannot be read",
    "writable": "the submission's copy (its own folder) cannot be written",
    "binds": "a server cannot listen on 127.0.0.1",
    "isolated": "the sandbox does not isolate the submission",
}
INSTALL_BWRAP = "install bubblewrap (apt-get install bubblewrap; macOS: none, grade on Linux)"


def hidden_tests():
    return sorted((REPO_DIR / "tests" / "grading").glob("*_hidden.py"))


def guarded(box):
    """(paths the submission must not read, paths it must not write) in this sandbox mode."""
    if box.mode == "none":
        return [], []
    kit_copy = Path(box.pythonpath) / "kit" / "__init__.py"
    unwritable = [REPO_DIR / "kit" / "__init__.py", REPO_DIR / "tests" / "grading", kit_copy]
    return [str(path) for path in hidden_tests()[:1]], [str(path) for path in dict.fromkeys(unwritable)]


def dummy_project(box):
    """A stand-in submission for the canary run before anyone is graded: a folder with a manage.py."""
    project = Path(box.area) / "canary-project"
    project.mkdir(exist_ok=True)
    (project / "manage.py").write_text("# the canary's stand-in\n")
    box.own(project)
    return project


def prove(box, project_copy=None, timeout=30):
    """Runs the probe in box (a kit.grading.sandbox.Sandbox) from project_copy (default: a stand-in).
    -> None when a submission's process can start there; else raises SandboxNotReady."""
    project_copy = Path(project_copy) if project_copy else dummy_project(box)
    unreadable, unwritable = guarded(box)
    args = json.dumps({"unreadable": unreadable, "unwritable": unwritable})
    command, env = box.launcher([sys.executable, "-c", PROBE, args], {**os.environ})
    try:
        run = subprocess.run(
            command,
            cwd=project_copy,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise SandboxNotReady(
            f"a process in the {box.mode!r} sandbox did not finish starting Python within {timeout} s",
            "a machine this busy cannot grade fairly: grade when it is less loaded, or set KIT_GRADE_START_TIMEOUT",
            box.mode,
        ) from None
    except OSError as exc:  # prlimit, bwrap or setpriv missing
        raise SandboxNotReady(
            f"the {box.mode!r} sandbox cannot run: {exc}", fix_for(box, missing=exc.filename), box.mode
        ) from None
    lines = [line for line in run.stdout.splitlines() if line.startswith("CANARY ")]
    if not lines:
        said = (run.stderr.strip().splitlines() or ["(nothing on stderr)"])[-1][:300]
        raise SandboxNotReady(
            f"a process in the {box.mode!r} sandbox did not start (status {run.returncode}): {said}"
            + blocked_paths(box, project_copy),
            fix_for(box, said),
            box.mode,
        )
    found = json.loads(lines[-1][len("CANARY ") :])
    for check, meaning in CHECKS.items():
        if found.get(check):
            where = blocked_paths(box, project_copy) if check != "isolated" else ""
            raise SandboxNotReady(
                f"{meaning} in the {box.mode!r} sandbox: {found[check]}{where}",
                fix_for(box, found[check], check),
                box.mode,
            )


def blocked_paths(box, project_copy):
    """'; the slot user kitgrade0 cannot enter /root (drwx------ root:root)', or ''."""
    if box.uid < 0:
        return ""
    wanted = [box.python, str(Path(box.python).resolve()), box.pythonpath, box.area, str(project_copy)]
    if box.mode == "bwrap+user":  # inside the namespace only these are shown, at the same paths
        wanted = [box.area, str(project_copy)]
    for path in dict.fromkeys(wanted):
        blocked = runtime.first_blocked(path, box.uid, box.gid, os.R_OK)
        if blocked is not None:
            return f"; the slot user {box.user} cannot enter {runtime.describe_path(blocked)}, on the way to {path}"
    return ""


def fix_for(box, said="", check="", missing=None):
    """What to do, by mode: the path to open, KIT_GRADE_SANDBOX, or installing bubblewrap."""
    if missing:
        return f"install {Path(missing).name} ({'bubblewrap' if 'bwrap' in str(missing) else 'util-linux'})"
    if check == "binds":
        return "bring up the loopback interface (ip link set lo up) or allow listening on 127.0.0.1"
    if check == "isolated" and "tests" in said:
        return f"chmod -R go-rwx {REPO_DIR / 'tests'}  (the hidden tests must be readable by the grader only)"
    if check == "isolated":
        return f"chmod -R go-w {REPO_DIR / 'kit'} {REPO_DIR / 'tests'}"
    if box.mode == "user":
        return (
            "make the path above enterable by other users (chmod o+x on the folder), or grade with bubblewrap, "
            f"which shows the kit to the slot user wherever it lives: {INSTALL_BWRAP}"
        )
    if box.mode.startswith("bwrap"):
        return (
            "bubblewrap cannot make its namespaces here: allow them (sysctl kernel.unprivileged_userns_clone=1; "
            "Ubuntu 24.04: kernel.apparmor_restrict_unprivileged_userns=0), or choose another mode, e.g. "
            "KIT_GRADE_SANDBOX=user as root (docs/grading.md)"
        )
    return f"check that {sys.executable} runs and imports Django (make setup), or set KIT_GRADE_SANDBOX"


def open_sandbox(slot_number, chosen=None):
    """Sandbox.create, its failures the grader's: a mode unknown or needing root, useradd refused."""
    from kit.grading.sandbox import MODES, Sandbox

    try:
        return Sandbox.create(slot_number, chosen)
    except ValueError as exc:
        fix = f"unset KIT_GRADE_SANDBOX, or set it to one of {', '.join(MODES)}"
        raise SandboxNotReady(str(exc), fix, chosen) from exc
    except PermissionError as exc:
        fix = "grade as root, or as another user with KIT_GRADE_SANDBOX=bwrap (bubblewrap) or none (no isolation)"
        raise SandboxNotReady(str(exc), fix, chosen) from exc
    except (OSError, KeyError, RuntimeError, subprocess.SubprocessError) as exc:
        fix = "grading as root creates slot users with useradd (package passwd): install it, or free a slot"
        raise SandboxNotReady(f"the sandbox could not be made: {exc!r}", fix, chosen) from exc


def check(chosen=None):
    """The canary once, in a fresh sandbox with a stand-in submission (make doctor, a batch's start)."""
    from kit.grading.sandbox import slot

    with slot() as number:
        box = open_sandbox(number, chosen)
        try:
            prove(box)
        finally:
            box.remove()
        return box.mode
