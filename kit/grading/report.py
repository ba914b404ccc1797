"""What a grade is made of and how it is reported: a step's result, its points, the terminal table
and Gradescope's results.json (with the schema the self-test validates it against).

Points of a step are shared equally among its test functions; a parametrized function counts once
and its cases share its part.
"""

from dataclasses import dataclass, field
from fractions import Fraction

STEPS = {1: ("echo", 20), 2: ("groups", 30), 3: ("bridge", 30), 4: ("commands & presence", 20)}


@dataclass
class StepResult:
    step: int
    tests: list = field(default_factory=list)  # the plugin's lines, one per test case
    note: str = ""  # why the step's run ended early, if it did
    seconds: float = 0.0

    @property
    def name(self):
        return STEPS[self.step][0]

    @property
    def max_points(self):
        return STEPS[self.step][1]

    def functions(self):
        """Test functions in order: {function: [cases]}."""
        grouped = {}
        for case in self.tests:
            grouped.setdefault(case["function"], []).append(case)
        return grouped

    def credit(self, cases):
        return Fraction(sum(case["outcome"] == "passed" for case in cases), len(cases))

    def points(self):
        functions = self.functions()
        if not functions:
            return Fraction(0)
        return self.max_points * sum(self.credit(cases) for cases in functions.values()) / len(functions)

    def passed_functions(self):
        return sum(self.credit(cases) == 1 for cases in self.functions().values())

    def first_failure(self, reveal_hidden=True):
        """The first failed test and why: public tests first; a hidden one unnamed unless revealed."""
        failed = [case for case in self.tests if case["outcome"] != "passed"]
        for case in sorted(failed, key=lambda case: case["hidden"]):
            if case["hidden"] and not reveal_hidden:
                return "a hidden test failed (details after grades are published)"
            return f"{case['title']}: {case['reason']}"
        return self.note


def total(results):
    return sum((result.points() for result in results), Fraction(0))


def table(results, reveal_hidden=True):
    rows = [("step", "tests passed", "points", "first failure")]
    for result in results:
        functions = len(result.functions())
        reason = result.first_failure(reveal_hidden) or "-"
        rows.append(
            (
                f"{result.step} {result.name}",
                f"{result.passed_functions()}/{functions}",
                f"{float(result.points()):.2f}/{result.max_points}",
                reason.splitlines()[0][:110],
            )
        )
    maximum = sum(result.max_points for result in results)
    rows.append(("total", "", f"{float(total(results)):.2f}/{maximum}", ""))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [f"{a:<{widths[0]}}  {b:>{widths[1]}}  {c:>{widths[2]}}  {d}" for a, b, c, d in rows]
    lines.insert(1, "-" * max(len(line) for line in lines))
    return "\n".join(lines)


def results_json(results, seconds, problem=""):
    """Gradescope's results.json: one entry per test function."""
    tests = []
    for result in results:
        functions = result.functions()
        share = Fraction(result.max_points, len(functions)) if functions else Fraction(0)
        for cases in functions.values():
            first = cases[0]
            failed = [case for case in cases if case["outcome"] != "passed"]
            output = "; ".join(sorted({case["reason"] for case in failed}))[:2000] if failed else "passed"
            if failed and first["doc"]:
                output = f"{output}\nWhat is checked: {first['doc']}"
            if failed and len(cases) > 1:
                output = f"{len(cases) - len(failed)}/{len(cases)} cases passed. {output}"
            tests.append(
                {
                    "name": f"Step {result.step} ({result.name}): {first['title']}",
                    "score": round(float(share * result.credit(cases)), 4),
                    "max_score": round(float(share), 4),
                    "status": "failed" if failed else "passed",
                    "output": output,
                    "visibility": "after_published" if first["hidden"] else "visible",
                }
            )
    return {
        "score": round(float(total(results)), 2),
        "execution_time": round(seconds, 1),
        "output": (f"The submission does not start: {problem}\n\n" if problem else "") + table(results, False),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def grader_error_json(reason, seconds=0.0):
    """results.json of a submission the grader could not grade for its own reasons: no score (and no
    tests), so that Gradescope, told by a non-zero exit, shows an autograder failure rather than a 0."""
    return {
        "execution_time": round(seconds, 1),
        "output": (
            "Grading failed for the grader's own reasons, not because of your submission: nothing was scored. "
            f"Your instructor will grade it again.\nWhat failed: {reason}"
        ),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [],
    }


# Gradescope's format. "score" may be left out (it is, when the grader failed: grader_error_json).
RESULTS_SCHEMA = {
    "type": "object",
    "required": ["execution_time", "tests"],
    "properties": {
        "score": {"type": "number", "minimum": 0},
        "execution_time": {"type": "number", "minimum": 0},
        "output": {"type": "string"},
        "visibility": {"enum": ["visible", "hidden", "after_due_date", "after_published"]},
        "stdout_visibility": {"enum": ["visible", "hidden", "after_due_date", "after_published"]},
        "tests": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "score", "max_score", "status", "output", "visibility"],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "score": {"type": "number", "minimum": 0},
                    "max_score": {"type": "number", "minimum": 0},
                    "status": {"enum": ["passed", "failed"]},
                    "output": {"type": "string"},
                    "visibility": {"enum": ["visible", "hidden", "after_due_date", "after_published"]},
                },
            },
        },
    },
}
