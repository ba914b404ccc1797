"""What a slot user runs in the `user` sandbox mode: the kit's Python, its venv and kit/, where that
user can read them, wherever the kit itself lives.

Root grading without bubblewrap cannot mount anything, so a submission's processes (run as an
unprivileged slot user) see the real file system. A checkout under /root or a `mktemp -d`
directory (0700), or a Python installed under /root (pyenv), is out of the slot user's reach:
its `manage.py` would fail with "No module named 'django'", or not start at all.

`for_slot(uid, gid)` answers with a Runtime: the Python to run, the PYTHONPATH that shows kit/,
and LD_LIBRARY_PATH for a relocated Python. What the slot user can already reach is used where
it is; what it cannot is mirrored, once per machine, into a root-owned, world-readable directory
under the temporary directory:

    kit-grade-runtime-<key>/python/   the base Python install (a hard-linked mirror; stdlib only)
    kit-grade-runtime-<key>/venv/     the venv (hard-linked; pyvenv.cfg and links point at python/)
    kit-grade-runtime-<key>/kit-<hash>/kit/   a copy of kit/ (always: the slot user reads the copy)

Hard links cost no space and about two seconds for a 35 000-file venv (a plain copy where the
temporary directory is another file system). Files keep their inode's owner and mode: root's
files stay read-only to the slot user. Nothing else of the checkout is mirrored, so tests/ (and
the hidden tests) stay where they are, out of reach when the checkout is.
"""

import compileall
import contextlib
import fcntl
import hashlib
import os
import shutil
import stat
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kit import KIT_PROJECT_FILES, PROJECT_DIR, REPO_DIR

SKIP_NAMES = {"__pycache__", ".ipynb_checkpoints"}


@dataclass
class Runtime:
    python: str  # the interpreter the slot user runs in place of sys.executable
    pythonpath: str  # the folder that holds kit/
    library_path: str = ""  # LD_LIBRARY_PATH for a relocated Python (its RUNPATH names the original)
    mirrored: tuple = ()  # what had to be mirrored, e.g. ("python", "venv")


# -- who can reach what (mode bits; the canary proves it with a real process) ----------------
def can(uid, gid, path, want):
    """True if uid (primary group gid, no other groups) has `want` (an os.R_OK|W_OK|X_OK mix) on path."""
    try:
        info = os.stat(path)
    except OSError:
        return False
    if uid == 0:
        return True
    if info.st_uid == uid:
        bits = (info.st_mode >> 6) & 7
    elif info.st_gid == gid:
        bits = (info.st_mode >> 3) & 7
    else:
        bits = info.st_mode & 7
    return bits & want == want


def first_blocked(path, uid, gid, want=os.R_OK):
    """The first folder on the way to path that uid cannot enter, or path itself if it cannot `want`
    it; None if it can."""
    path = Path(os.path.abspath(path))
    for parent in reversed(path.parents):
        if not can(uid, gid, parent, os.X_OK):
            return parent
    if not can(uid, gid, path, want | (os.X_OK if path.is_dir() else 0)):
        return path
    return None


def describe_path(path):
    """`/root (drwx------ root:root)`: what a message about a blocked path shows."""
    try:
        info = os.stat(path)
    except OSError as exc:
        return f"{path} ({exc.strerror})"
    import grp
    import pwd

    owner, group = info.st_uid, info.st_gid
    with contextlib.suppress(KeyError):
        owner = pwd.getpwuid(info.st_uid).pw_name
    with contextlib.suppress(KeyError):
        group = grp.getgrgid(info.st_gid).gr_name
    return f"{path} ({stat.filemode(info.st_mode)} {owner}:{group})"


# -- the pieces of the kit's Python ------------------------------------------------------------
def in_venv():
    return sys.prefix != sys.base_prefix


def venv_cfg():
    """pyvenv.cfg's settings -> dict (empty outside a venv)."""
    cfg = Path(sys.prefix) / "pyvenv.cfg"
    if not in_venv() or not cfg.is_file():
        return {}
    pairs = (line.split("=", 1) for line in cfg.read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def _base_skips(base):
    """Folders of the base install a venv without system site-packages never reads."""
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    skips = {base / "lib" / version / "test", base / "lib" / version / "idlelib"}
    if in_venv() and venv_cfg().get("include-system-site-packages", "false").lower() != "true":
        skips.add(base / "lib" / version / "site-packages")
    return skips


def mirror(source, dest, skip=(), relink=()):
    """A hard-linked mirror of the tree source at dest (a copy where linking fails, and for files the
    world cannot read, made world-readable). Folders are new, root-owned 0755. Symbolic links are
    kept, their absolute targets moved by relink: [(old prefix, new prefix)]."""
    source, dest = Path(source), Path(dest)
    skip = {Path(entry) for entry in skip}
    for folder, dirs, files in os.walk(source):
        folder = Path(folder)
        target = dest / folder.relative_to(source)
        target.mkdir(mode=0o755, exist_ok=True)
        os.chmod(target, 0o755)
        dirs[:] = [name for name in dirs if folder / name not in skip]  # bytecode caches kept: fast imports
        for name in list(dirs):  # links to folders: os.walk lists them with dirs, never enters them
            if (folder / name).is_symlink():
                dirs.remove(name)
                files.append(name)
        for name in files:
            _mirror_entry(folder / name, target / name, relink)


def _mirror_entry(entry, target, relink):
    info = os.lstat(entry)
    if stat.S_ISLNK(info.st_mode):
        link = os.readlink(entry)
        for old, new in relink:
            if link == str(old) or link.startswith(str(old) + os.sep):
                link = str(new) + link[len(str(old)) :]
                break
        os.symlink(link, target)
    elif stat.S_ISREG(info.st_mode):
        if info.st_mode & 0o004:
            try:
                os.link(entry, target)
                return
            except OSError:  # another file system, or links not allowed
                pass
        shutil.copy2(entry, target, follow_symlinks=False)
        os.chmod(target, stat.S_IMODE(info.st_mode) | 0o444 | (0o111 if info.st_mode & 0o100 else 0))


def kit_hash(kit=REPO_DIR / "kit"):
    digest = hashlib.sha256()
    for path in sorted(kit.rglob("*")) + [PROJECT_DIR / name for name in KIT_PROJECT_FILES]:
        if path.is_file() and not SKIP_NAMES & set(path.parts) and path.suffix != ".pyc":
            digest.update(path.relative_to(kit.parent).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


# -- the runtime of the slot users ------------------------------------------------------------
def runtime_root():
    """The root-owned folder of mirrors: one per (Python, venv) pair, in the temporary directory
    (/tmp if that one cannot be entered by others)."""
    key = hashlib.sha256(f"{Path(sys.prefix).resolve()}\0{Path(sys.base_prefix).resolve()}".encode()).hexdigest()
    top = Path(tempfile.gettempdir())
    if first_blocked(top, 65534, 65534, os.X_OK) is not None:
        top = Path("/tmp")
    return top / f"kit-grade-runtime-{key[:12]}"


def _stamp():
    """Changes when the venv's packages or the Python change: the mirror is then rebuilt."""
    parts = [Path(sys.prefix) / "pyvenv.cfg", Path(sys.base_prefix).resolve()]
    parts += [Path(path) for path in sys.path if path.endswith("site-packages")]
    return "|".join(f"{path}:{path.stat().st_mtime_ns}" for path in parts if path.exists())


def build_python(dest):
    """Mirrors the kit's Python (and its venv, if it runs in one) under dest -> the python to run there.
    Also what a test uses to give another user a Python of its own."""
    dest = Path(dest)
    base = Path(sys.base_prefix).resolve()
    dest.mkdir(mode=0o755, parents=True, exist_ok=True)
    mirror(base, dest / "python", skip=_base_skips(base))
    if not in_venv():
        return python_in(dest)
    venv = Path(sys.prefix).resolve()
    mirror(venv, dest / "venv", relink=[(base, dest / "python"), (venv, dest / "venv")])
    cfg = dest / "venv" / "pyvenv.cfg"
    settings = venv_cfg()
    settings["home"] = str(dest / "python" / "bin")
    settings.pop("executable", None)
    settings.pop("command", None)
    cfg.unlink()  # a hard link to the original: never written through
    cfg.write_text("".join(f"{key} = {value}\n" for key, value in settings.items()))
    os.chmod(cfg, 0o644)
    return python_in(dest)


def python_in(dest):
    """The interpreter of a mirror made by build_python(dest)."""
    if in_venv():
        return Path(dest) / "venv" / "bin" / Path(sys.executable).name
    return Path(dest) / "python" / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"


def library_path(dest):
    return str(Path(dest) / "python" / "lib")


@contextlib.contextmanager
def _locked(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)) as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _kit_copy(root):
    """kit/ copied into root (root-owned, read-only to others), one folder per kit version."""
    target = root / f"kit-{kit_hash()}"
    if not (target / "kit" / "__init__.py").is_file():
        staging = Path(tempfile.mkdtemp(prefix=".kit-", dir=root))
        os.chmod(staging, 0o755)
        shutil.copytree(REPO_DIR / "kit", staging / "kit", ignore=shutil.ignore_patterns(*SKIP_NAMES, "*.pyc"))
        for name in KIT_PROJECT_FILES:  # the project's modules kit/layers.py loads, beside the copy
            (staging / "project" / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(PROJECT_DIR / name, staging / "project" / name)
        compileall.compile_dir(staging / "kit", quiet=2)  # the slot user cannot write bytecode caches
        for folder, _dirs, files in os.walk(staging):
            os.chmod(folder, 0o755)
            for name in files:
                os.chmod(os.path.join(folder, name), 0o644)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return target


_cache = {}


def for_slot(uid, gid):
    """The Runtime the slot user (uid, gid) runs: the kit's Python where it can reach it, else a mirror."""
    key = (uid, gid)
    if key not in _cache:
        _cache[key] = _for_slot(uid, gid)
    return _cache[key]


def _for_slot(uid, gid):
    root = runtime_root()
    with _locked(root.parent / f".{root.name}.lock"):
        root.mkdir(mode=0o755, exist_ok=True)
        if root.is_symlink() or root.stat().st_uid != os.geteuid():
            raise RuntimeError(f"{root} is not the grader's own folder: remove it and grade again")
        os.chmod(root, 0o755)
        kit = _kit_copy(root)
        executable = Path(sys.executable)
        reachable = all(
            first_blocked(path, uid, gid, os.R_OK) is None
            for path in (executable.resolve(), Path(sys.prefix), Path(sys.base_prefix).resolve())
        )
        if reachable:
            return Runtime(python=str(executable), pythonpath=str(kit))
        stamp = _stamp()
        built = root / "python-env"
        marker = root / "python-env.stamp"
        if not (marker.is_file() and marker.read_text() == stamp):
            shutil.rmtree(built, ignore_errors=True)
            marker.unlink(missing_ok=True)
            build_python(built)
            marker.write_text(stamp)
        return Runtime(
            python=str(python_in(built)),
            pythonpath=str(kit),
            library_path=library_path(built),
            mirrored=("python", "venv") if in_venv() else ("python",),
        )
