"""Runs `python -m kit.bench` for the bench's tests, on copies of docs/bench.md and README.md."""

import json
import os
import subprocess
import sys

from kit import REPO_DIR


def run_bench(folder, redis_url, *args):
    """python -m kit.bench ARGS --progress off, its JSON, docs and summary written into folder:
    -> (stdout, the report, the docs' copy, the README's copy). Fails the test if the bench fails."""
    out, docs, readme = folder / "bench.json", folder / "bench.md", folder / "README.md"
    docs.write_text((REPO_DIR / "docs" / "bench.md").read_text())
    readme.write_text((REPO_DIR / "README.md").read_text())
    command = [sys.executable, "-m", "kit.bench", *args, "--progress", "off", "--out", str(out)]
    command += ["--write-docs", str(docs), "--write-summary", str(readme)]
    result = subprocess.run(
        command,
        cwd=REPO_DIR,
        env={**os.environ, "REDIS_URL": redis_url},
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout, json.loads(out.read_text()), docs.read_text(), readme.read_text()
