"""Every sandbox mode end to end (issue 21), each forced with KIT_GRADE_SANDBOX, from a copy of the
kit under a 0700 directory with its own Python (a mirror, kit.grading.runtime.build_python, as a
checkout under /root with pyenv would have): the reference scores 100, the starter 0, a broken
submission its per-step score.

  bwrap+user, user, none   as root, from a checkout root owns
  bwrap                    as an ordinary user the test creates, from a checkout that user owns

The three submissions of a mode are graded at once (`make grade PROJECT=...` three times), the
steps of each in parallel as the grader does. Root only: the test creates users.
"""

import concurrent.futures
import json
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from fixtures.broken import make as make_broken
from fixtures.hostile import make as make_hostile
from kit import REPO_DIR
from kit.grading import gradescope, runtime

pytestmark = [
    pytest.mark.timeout(900),
    pytest.mark.skipif(os.geteuid() != 0, reason="creates users and grades as root: run as root (CI does)"),
]

TESTER = "kitgrade-tester"
BROKEN = "missing_module_echo"  # step 1 lost, the rest kept
EXPECTED = {"reference": [20, 30, 30, 20], "starter": [0, 0, 0, 0], BROKEN: [0, 30, 30, 20]}
# In the modes no other test grades hostile submissions in: the two that go for the kit and the tests.
HOSTILE = ["rewrites_the_kit", "copies_the_hidden_tests"]
HOSTILE_MODES = ("user", "bwrap")


def make_checkout(top):
    """The kit, its grading tests, the reference and the notebooks (the starter's source) under top/repo,
    with a Python of its own."""
    repo = top / "repo"
    for entry in [*gradescope.BUNDLED, "project", "notebooks"]:
        source = REPO_DIR / entry
        if source.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "db.sqlite3*", ".ipynb_checkpoints")
            shutil.copytree(source, repo / entry, ignore=ignore, dirs_exist_ok=True)
        else:
            (repo / entry).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / entry)
    python = runtime.build_python(top / "python")
    env = {**os.environ, "LD_LIBRARY_PATH": runtime.library_path(top / "python")}
    subprocess.run(
        [str(python), "-m", "kit.authoring.starter", str(top / "starter")],
        cwd=repo,
        env=env,
        check=True,
        capture_output=True,
    )
    submissions = {"reference": repo / "project", "starter": top / "starter" / "project"}
    submissions[BROKEN] = make_broken(BROKEN, top / "broken", repo / "project")
    for name in HOSTILE:
        submissions[name] = make_hostile(name, top / "hostile", top / "starter" / "project")
    return repo, python, submissions


def digest(repo):
    """SHA-256 over kit/ and tests/ of a checkout (names and bytes, bytecode caches left out)."""
    import hashlib

    total = hashlib.sha256()
    for folder in (repo / "kit", repo / "tests"):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                total.update(path.relative_to(repo).as_posix().encode() + b"\0" + path.read_bytes())
    return total.hexdigest()


def private_top(owner=None):
    top = Path(tempfile.mkdtemp(prefix="kit-modes-"))  # 0700
    if owner:
        os.chown(top, owner.pw_uid, owner.pw_gid)
    return top


@pytest.fixture(scope="module")
def root_checkout():
    top = private_top()
    yield make_checkout(top)
    shutil.rmtree(top, ignore_errors=True)


def ensure_tester():
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin", TESTER],
        capture_output=True,
    )
    return pwd.getpwnam(TESTER)


def as_user(user):
    return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", "--"] if user else []


def grade_each(mode, repo, python, submissions, top, redis_url, user=None):
    env = {
        **os.environ,
        "KIT_GRADE_SANDBOX": mode,
        "REDIS_URL": redis_url,
        "LD_LIBRARY_PATH": runtime.library_path(python.parents[2]),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    for name in ("PYTHONPATH", "VIRTUAL_ENV", "KIT_SANDBOX", "KIT_PROJECT_DIR"):
        env.pop(name, None)
    if user:
        env.update(HOME=str(top), USER=user.pw_name, TMPDIR="/tmp")

    def one(name):
        out = top / f"results-{name}.json"
        run = subprocess.run(
            [*as_user(user), str(python), "-m", "kit.grading.grade", str(submissions[name]), "--out", str(out)],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        return name, run, out

    names = [*EXPECTED, *(HOSTILE if mode in HOSTILE_MODES else [])]
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        return list(pool.map(one, names))


def check_scores(mode, graded):
    for name, run, _out in graded:
        print(f"\n--- {mode} {name}: status {run.returncode}\n{run.stdout[-1500:]}\n{run.stderr[-1500:]}")
    for name, run, out in graded:
        assert run.returncode == 0, f"{name}: {run.stderr[-1500:]}"
        assert "Sandbox: " in run.stdout and out.is_file()
        payload = json.loads(out.read_text())
        steps = [0.0] * 4
        for test in payload["tests"]:
            steps[int(test["name"].split()[1]) - 1] += test["score"]
        wanted = EXPECTED.get(name, [0, 0, 0, 0])  # a hostile starter copy deserves 0
        assert [round(points, 2) for points in steps] == wanted, f"{mode} {name}: {payload['output']}"


def assert_no_leak(repo):
    """copies_the_hidden_tests writes what it could read to LEAKED_HIDDEN_TESTS.txt (in /tmp, in user mode)."""
    hidden = (repo / "tests" / "grading" / "test_step2_groups_hidden.py").read_text()[:200]
    for leak in Path("/tmp").glob("LEAKED_HIDDEN_TESTS.txt"):
        assert hidden not in leak.read_text(errors="replace"), "the hidden tests leaked"


@pytest.mark.parametrize("mode", ["bwrap+user", "user", "none"])
def test_as_root_every_mode_grades_fairly_from_a_checkout_under_a_0700_directory(mode, root_checkout, redis_url):
    repo, python, submissions = root_checkout
    assert os.stat(repo.parent).st_mode & 0o077 == 0, "the checkout must be out of other users' reach"
    top = private_top()
    before = digest(repo)
    try:
        check_scores(mode, grade_each(mode, repo, python, submissions, top, redis_url))
        assert digest(repo) == before, "a submission changed the kit or its tests"
        assert_no_leak(repo)
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_bwrap_mode_grades_fairly_as_an_ordinary_user_from_its_own_checkout(redis_url):
    tester = ensure_tester()
    top = private_top(tester)
    try:
        repo, python, submissions = make_checkout(top)
        for folder, dirs, files in os.walk(top):
            if Path(folder).is_relative_to(top / "python"):
                continue  # the Python mirror stays root's (hard links), readable by all
            for name in [folder, *(os.path.join(folder, entry) for entry in dirs + files)]:
                os.lchown(name, tester.pw_uid, tester.pw_gid)
        probe = subprocess.run(
            [*as_user(tester), "bwrap", "--unshare-user", "--ro-bind", "/", "/", "true"], capture_output=True, text=True
        )
        if probe.returncode != 0:
            pytest.skip(f"this machine does not allow unprivileged user namespaces: {probe.stderr.strip()[:200]}")
        before = digest(repo)
        check_scores("bwrap", grade_each("bwrap", repo, python, submissions, top, redis_url, user=tester))
        assert digest(repo) == before, "a submission changed the kit or its tests"
        assert_no_leak(repo)
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_a_canary_that_fails_stops_grading_before_any_results_json(root_checkout, redis_url):
    """user mode with the temporary directory (where each submission's area is made) in a 0700 folder:
    the slot user cannot enter it, so no submission could start. The grader says so, and why."""
    repo, python, submissions = root_checkout
    top = private_top()
    out = top / "results.json"
    env = {**os.environ, "KIT_GRADE_SANDBOX": "user", "REDIS_URL": redis_url, "TMPDIR": str(top)}
    try:
        run = subprocess.run(
            [str(python), "-m", "kit.grading.grade", str(submissions["reference"]), "--out", str(out)],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 2, run.stdout + run.stderr
        assert not out.exists(), "no results.json when the grader, not the submission, is at fault"
        assert f"cannot enter {top}" in run.stderr and "Fix:" in run.stderr, run.stderr
    finally:
        shutil.rmtree(top, ignore_errors=True)
