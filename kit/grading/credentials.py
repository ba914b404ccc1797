"""Credentials for the grading tests, made by the submission's own management commands.

The grader migrates a submission once and, in the same `manage.py shell`, creates one API key and
a batch of devices; every step's server starts from a copy of that database, so no step pays for
migrate, create_api_key and create_device again (each is a Django start-up, about a second).
The grading conftest's DevicePool uses the same script when it needs more devices.
"""

import json
import uuid

SEED_DEVICES = 60  # about what the step that uses most devices (step 3) takes


def new_device_ids(count):
    return [f"dev-{uuid.uuid4().hex[:8]}" for _ in range(count)]


def script(device_ids, api_key_name=None, migrate=False):
    """Python for `manage.py shell -c`: prints MIGRATED, APIKEY <key>, DEVICE <id> <token> lines.
    Credentials are best effort (a starter's commands are stubs): a failure prints NOSEED <why>."""
    lines = [
        "import io",
        "from django.core.management import call_command",
        "def created(*args):",
        "    out = io.StringIO(); call_command(*args, stdout=out)",
        "    return out.getvalue().strip().splitlines()[-1].strip()",
    ]
    if migrate:
        lines += ["call_command('migrate', '--noinput', verbosity=0)", "print('MIGRATED', flush=True)"]
    lines += ["try:"]
    if api_key_name:
        lines += [f"    print('APIKEY', created('create_api_key', {api_key_name!r}))"]
    lines += [
        f"    for device_id in {device_ids!r}:",
        "        print('DEVICE', device_id, created('create_device', device_id))",
        "except Exception as exc:",
        "    print('NOSEED', type(exc).__name__)",
    ]
    return "\n".join(lines) + "\n"


def parse(output):
    """-> {"migrated": bool, "api_key": str or None, "devices": [[id, token], ...]}"""
    seed = {"migrated": False, "api_key": None, "devices": []}
    for line in output.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word == "MIGRATED":
            seed["migrated"] = True
        elif word == "APIKEY" and rest:
            seed["api_key"] = rest.strip()
        elif word == "DEVICE" and len(rest.split()) == 2:
            seed["devices"].append(rest.split())
    return seed


def load(path):
    """The seed the grader wrote for this pytest process, or an empty one."""
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                return json.load(handle)
        except (OSError, ValueError):
            pass
    return {"api_key": None, "devices": []}
