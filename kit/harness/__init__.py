"""The kit's harness: how LiveServer serves a project (the reference, a learner's, a submission).

The learner's files stay plain Channels and Django; what the kit needs on top lives here:

- kit.harness.settings  `from mysite.settings import *`, plus the harness's URLconf and log lines;
  LiveServer sets it as DJANGO_SETTINGS_MODULE (for daphne and for manage.py).
- kit.harness.asgi      the ASGI application LiveServer serves instead of mysite.asgi:application.
  It serves the learner's own mysite.asgi when every app imports; when one does not (a syntax
  error, a missing module, an import that never ends), it logs the error loudly once and builds
  the routes app by app, so a broken app costs only its own paths (grading isolation).
- kit.harness.guards    a starter stub (NotImplementedError "TODO ...") closes the socket with 4501
  and logs one "not done yet" line; a failing channel layer (Redis gone) closes it with 4503 after
  disconnect() ran; an unknown WebSocket path is refused (403). No tracebacks for any of them.

`python project/manage.py runserver` does not use the harness: it serves mysite.asgi as is.
"""
