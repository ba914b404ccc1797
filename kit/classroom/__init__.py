"""Classroom mode: the students' own browsers and phones join the instructor's live project (issue 24).

Machinery around the learner's project, so it lives in the kit: the project's files stay the plain
Channels the notebooks build, and classroom mode is switched on for the kit's servers only, by one
environment variable, KIT_CLASSROOM_HOST=<the address students reach> (`make demo DEMO_ARGS=--classroom`
sets it; so can compose's `web`).

lan.py        the address students can reach, found or given; the hosts allowed; advice when unreachable
config.py     what the switch changes in the settings: ALLOWED_HOSTS, DEBUG off, the app, rate limits
qr.py         the join URL as a QR code, for the terminal and the projector page
tickets.py    a student's phone device, and the one-use join ticket exchanged for its token
views.py      /classroom/ (projector), /classroom/join/, /classroom/exchange/, /devices/phone/, students
consumers.py  the chat as a classroom serves it: each message with its student's name, rate limited
gate.py       around the ASGI application: Host and Origin checked and each refusal logged, a phone's
              frames rate limited, the chat route served by consumers.py
subprotocol.py  the device route's token as the subprotocol `bearer.<token>` (browsers cannot send headers)
"""

import os

HOST_VARIABLE = "KIT_CLASSROOM_HOST"


def host_from_environment():
    """The classroom's address if classroom mode is on, else None."""
    return os.environ.get(HOST_VARIABLE, "").strip() or None
