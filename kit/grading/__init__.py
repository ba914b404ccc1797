"""Grading by the contract's four steps: one project (grade.py), a class (batch.py), in a sandbox
(sandbox.py), with credentials made by the submission itself (credentials.py), reported by report.py,
one JSON line per test from pytest_plugin.py; Gradescope's bundle (gradescope.py); its speed
(speed_bench.py)."""
