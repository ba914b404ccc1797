"""The grader's own failures: never the submission's fault, never a score.

A GraderError stops grading before any results.json is written (one project), or marks the
submission as a grader error in the gradebook (a class); see docs/grading.md.
"""


class GraderError(RuntimeError):
    """The grader itself cannot grade: no project directory, no Redis, no pytest, a sandbox in which
    no submission could start. reason says what, fix (if known) what to do about it."""

    def __init__(self, reason, fix=""):
        self.reason, self.fix = str(reason), fix
        super().__init__(f"{reason}\nFix: {fix}" if fix else str(reason))


class SandboxNotReady(GraderError):
    """The canary (kit.grading.canary) could not start a process in the chosen sandbox mode."""

    def __init__(self, reason, fix="", mode=""):
        self.mode = mode
        super().__init__(reason, fix)
