"""The kit's settings without Django's middleware: an experiment of the bench, not a setting to ship.

Each of the project's seven middleware classes is sync code that Django runs in a worker thread
(sync_to_async) on both the way in and the way out of every async request. The HTTP API needs
none of them (header tokens, no session, no CSRF), so `--lean` measures what they cost.
"""

from mysite.settings import *  # noqa: F401,F403

MIDDLEWARE = []
# The admin (and the dashboard) need sessions; this experiment serves the API only.
SILENCED_SYSTEM_CHECKS = ["admin.E408", "admin.E409", "admin.E410"]
