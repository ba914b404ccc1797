"""The WebSocket close codes of the application's own range (4000-4999), each defined here once: the
project, the kit and the tests import them. Read each as 4 + an HTTP status.

The kit's servers add 4408 (a client that left too much unread) and 1001 (shutting down) in
kit/serving/limits.py, as they serve other applications than this project too.
"""

REVOKED_CLOSE_CODE = 4401  # the credential the socket was opened with no longer holds (devices/revocation.py)
NOT_DONE_CLOSE_CODE = 4501  # a starter stub was reached: "501, not implemented" (the kit's harness)
LAYER_FAILED_CLOSE_CODE = 4503  # the channel layer failed (Redis away): "503, try again later" (the kit's harness)
