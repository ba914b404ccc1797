"""The kit's own tools: Redis found or started, the live project server, grading, starter copies."""
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
PROJECT_DIR = REPO_DIR / "project"
NOTEBOOKS_DIR = REPO_DIR / "notebooks"
