"""The Gradescope autograder: a bundle that grades /autograder/submission into
/autograder/results/results.json with the same grader as `make grade`.

    make gradescope                             # -> autograder.zip (setup.sh, run_autograder, the kit)
    python -m kit.grading.gradescope build [--out autograder.zip]
    python -m kit.grading.gradescope run [--root /autograder]   # what run_autograder calls

The root is a parameter (--root, or AUTOGRADER_ROOT) so that the bundle can be tried locally on a
folder laid out like Gradescope's: <root>/source (the unzipped bundle), <root>/submission,
<root>/results. Gradescope runs as root: submissions then run as an unprivileged user inside
bubblewrap (setup.sh installs it), and setup.sh makes the grading tests readable by root only.
The reference project is not in the bundle; only the kit, the grading tests and requirements.
"""

import argparse
import json
import os
import sys
import time
import zipfile
from pathlib import Path

from kit import REPO_DIR

BUNDLED = [
    "kit",
    "tests/grading",
    "tests/conftest.py",
    "tests/live_support.py",
    "pytest.ini",
    "requirements.txt",
    "requirements-dev.txt",
    # REDIS_URL's parser: the kit's processes read the shards with the project's own parser (kit/layers.py).
    # A parser, no solution: the reference's solution regions stay out.
    "project/mysite/redis_url.py",
    "project/mysite/layers.py",  # the layers the kit's processes use (kit/layers.py loads them)
]
SKIP_PARTS = {"__pycache__", ".ipynb_checkpoints"}

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when the autograder image is built.
set -euo pipefail
cd /autograder/source
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends python3 python3-venv redis-server bubblewrap util-linux
python3 -m venv .venv
.venv/bin/pip install --quiet -r requirements.txt
# Only the test tools grading needs, at the versions requirements-dev.txt pins.
.venv/bin/pip install --quiet \\
  $(grep -E '^(pytest|pytest-asyncio|pytest-timeout)==' requirements-dev.txt | cut -d' ' -f1)
# The grading tests (hidden ones included) readable by root only; the kit stays readable.
chmod -R go-rwx tests
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission. AUTOGRADER_ROOT (default /autograder) lets it run
# against a folder laid out like Gradescope's; KIT_PYTHON against another Python with the kit's packages.
set -uo pipefail
SOURCE="$(cd "$(dirname "$0")" && pwd)"
cd "$SOURCE"
exec "${KIT_PYTHON:-$SOURCE/.venv/bin/python}" -m kit.grading.gradescope run --root "${AUTOGRADER_ROOT:-/autograder}"
"""


def bundled_files():
    for entry in BUNDLED:
        path = REPO_DIR / entry
        for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
            if file.is_file() and not SKIP_PARTS & set(file.parts) and file.suffix != ".pyc":
                yield file


def build(out="autograder.zip"):
    """Writes the bundle: setup.sh and run_autograder at the top (executable), the kit beside them."""
    out = Path(out)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, text in (("setup.sh", SETUP_SH), ("run_autograder", RUN_AUTOGRADER)):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o100755 << 16
            bundle.writestr(info, text)
        for file in bundled_files():
            bundle.write(file, file.relative_to(REPO_DIR).as_posix())
    return out


def run(root):
    """Grades <root>/submission into <root>/results/results.json; always writes one. -> exit status:
    1 when the grader failed for its own reasons (results.json then has no score, and Gradescope
    shows an autograder failure rather than a 0)."""
    from kit.grading import batch
    from kit.grading import grade

    root = Path(root)
    results_dir = root / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    started, status = time.monotonic(), 0
    project = batch.find_project(root / "submission") if (root / "submission").is_dir() else None
    if project is None:
        payload = grade.results_json(
            [], 0.0, "no manage.py in the submission: upload your project/ folder (or a zip of it)"
        )
    else:
        try:
            results, seconds, problem = grade.grade(project, quiet=True)
            payload = grade.results_json(results, seconds, problem)
        except Exception as exc:  # the grader's failure (GraderError, or a bug): no score, exit 1
            status = 1
            payload = grade.grader_error_json(" ".join(str(exc).split()), time.monotonic() - started)
    (results_dir / "results.json").write_text(
        json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    print(payload["output"])
    return status


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m kit.grading.gradescope")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("build", help="write autograder.zip").add_argument("--out", default="autograder.zip")
    commands.add_parser("run", help="grade <root>/submission").add_argument(
        "--root", default=os.environ.get("AUTOGRADER_ROOT", "/autograder")
    )
    args = parser.parse_args(argv)
    if args.command == "build":
        print(f"wrote {build(args.out)}")
        return 0
    return run(args.root)


if __name__ == "__main__":
    sys.exit(main())
