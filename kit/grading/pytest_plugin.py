"""A pytest plugin for the grader and the notebooks' self-checks: one JSON line per test.

Loaded with `-p kit.grading.pytest_plugin`; writes to the file named by KIT_GRADING_REPORT. Each line:
{"nodeid", "function", "step", "hidden", "doc", "outcome": "passed"|"failed", "reason"}.
The reason is said in plain words (no traceback): what went wrong, as a learner would put it.
Lines are written as tests finish, so a step killed by its time limit keeps what it had.
"""

import asyncio
import json
import os
import re

import pytest

STEP_MARKERS = {"step1": 1, "step2": 2, "step3": 3, "step4": 4}


def plain_reason(excinfo):
    """The exception of a failed test, told in a line or two."""
    error = excinfo.value
    kind = type(error).__name__
    module = type(error).__module__
    text = str(error).strip()
    if isinstance(error, (asyncio.TimeoutError, TimeoutError)):
        return "nothing arrived in time: the server did not answer (a handler that never sends?)"
    if kind == "Failed" and text.startswith("Timeout"):
        return f"the test ran out of time ({text.splitlines()[0].strip('+ ')}): something hangs"
    if kind == "InvalidStatus":
        status = getattr(getattr(error, "response", None), "status_code", "?")
        return (
            f"the WebSocket handshake was refused (HTTP {status}): connect() did not accept, "
            "or the app's routes did not load (the server log says which)"
        )
    if module.startswith("websockets") and "ConnectionClosed" in kind:
        return f"the server closed the WebSocket ({text[:200]})"
    if module.startswith("websockets") and kind in ("InvalidHandshake", "InvalidMessage"):
        return "the WebSocket handshake failed: the server did not answer it properly"
    if module.startswith("httpx") and "Timeout" in kind:
        return "an HTTP request got no answer in time (a view that never returns?)"
    if module.startswith("httpx"):
        return f"HTTP request failed: {kind} (is the server still running?)"
    if kind == "ServerFailed":
        return "the project's server could not run: " + text[:600]
    if kind == "JSONDecodeError":
        return "an answer was not valid JSON"
    if isinstance(error, AssertionError):
        return assertion_reason(text)
    first = text.splitlines()[0] if text else ""
    return f"{kind}: {first}"[:300]


def assertion_reason(text):
    """Our message if the assert has one, else pytest's first line (e.g. `assert 501 == 202`)."""
    if not text:
        return "a check failed"
    lines = text.splitlines()
    if lines[0].startswith("assert "):
        return "check failed: " + lines[0][:300]
    message = []
    for line in lines:
        if line.startswith("assert ") or line.startswith(" "):
            break
        message.append(line)
    return " ".join(message)[:400]


def humanize(function_name):
    return re.sub(r"^test_", "", function_name).replace("_", " ")


class Reporter:
    def __init__(self, path):
        self.path = path
        self.failed = {}  # nodeid -> reason of the first failing phase

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        if report.failed and item.nodeid not in self.failed:
            self.failed[item.nodeid] = plain_reason(call.excinfo) if call.excinfo else "failed"
        elif report.skipped and item.nodeid not in self.failed:  # a graded test never skips
            self.failed[item.nodeid] = "the test was skipped, so it cannot count as passed"
        if report.when == "teardown":
            self.write(item)

    def pytest_collection_finish(self, session):
        if os.environ.get("KIT_GRADING_COLLECT"):  # --collect-only: list what would run
            for item in session.items:
                self.write(item, outcome="collected")

    def write(self, item, outcome=None):
        markers = {mark.name for mark in item.iter_markers()}
        function = getattr(item, "originalname", None) or item.name
        doc = (getattr(item, "function", None).__doc__ or "").strip().splitlines() if hasattr(item, "function") else []
        line = {
            "nodeid": item.nodeid,
            "function": f"{item.path.name}::{function}",
            "title": humanize(function),
            "step": next((number for name, number in STEP_MARKERS.items() if name in markers), None),
            "hidden": "hidden" in markers,
            "doc": doc[0] if doc else "",
            "outcome": outcome or ("failed" if item.nodeid in self.failed else "passed"),
            "reason": self.failed.get(item.nodeid, ""),
        }
        with open(self.path, "a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")


def pytest_configure(config):
    path = os.environ.get("KIT_GRADING_REPORT")
    if path:
        config.pluginmanager.register(Reporter(path), "kit-grading-reporter")
