"""The limits the kit's servers add to daphne (kit/serving/daphne_limited.py) and to uvicorn (kit/fast/limits.py),
in one place: what they mean is in kit/serving/daphne_limited.py's docstring."""

import os

HEADER_TIMEOUT_SECONDS = float(os.environ.get("KIT_HEADER_TIMEOUT_SECONDS", "10"))
SEND_LIMIT_BYTES = int(os.environ.get("KIT_SEND_LIMIT_BYTES", str(4 * 1024 * 1024)))
SLOW_READER_CODE = 4408  # 4xxx: the application's range; "408": the client took too long to read
ABORT_GRACE_SECONDS = 5
CLOSE_GRACE_SECONDS = 2
GOING_AWAY = 1001
