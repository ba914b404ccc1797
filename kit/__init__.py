"""The kit's own tools, by role. The learner's project (project/) stays plain Channels; this is around it.

notebook.py      what a notebook's first cell imports: setup, the live project, a tree, self-checks
doctor.py        `make doctor`: OK/FAIL per requirement, each FAIL with its fix
demo.py          `make demo`: the live project, Redis and simulated devices for a class (and .kit/demo.env)
layers.py        one channel layer for every process on a Redis, the kit's side: its servers record their layer
                 in Redis, its processes get the project's layers (project/mysite/layers.py: the check, #221)
primary.py       behind Redis Sentinel: pub/sub layers that follow the primary and say when a PUBLISH
                 reached nobody, the core layer's receive() that waits a failover out
lab/             inside the notebooks' kernels: project cells that write files, kernel start-up,
                 a step not done yet said plainly
authoring/       the kit's own material: the starter copy (starter.py), notebooks kept equal to
                 project/ (nbsync.py), each notebook's size against the lesson's goals (lesson_stats.py)
serving/         running the project: a live server process, daphne with the kit's limits, several
                 processes on one Redis, Redis found or started, a Redis Sentinel set (sentinel_set.py), ports
grading/         `make grade`: one project (grade.py), a class (batch.py), the sandbox, its canary,
                 the user mode's mirror (runtime.py), the grader's errors, credentials, the pytest
                 plugin, reports, Gradescope, grading speed
harness/         what the served project runs inside: guards, loading a half-written project
fast/            the fast variant that `make demo` and compose serve
classroom/       classroom mode: students' browsers and phones join on the LAN (make demo --classroom)
bench/           `make bench`: the kit against the seed's pattern and the floors, the failover drill
"""

from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
PROJECT_DIR = REPO_DIR / "project"
# The project's files the kit itself imports (kit/layers.py): the sandboxes and Gradescope's bundle ship them.
KIT_PROJECT_FILES = ("mysite/redis_url.py", "mysite/layers.py")
NOTEBOOKS_DIR = REPO_DIR / "notebooks"
