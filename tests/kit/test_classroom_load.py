"""A class of 60 on the fast variant (issue 24): every student joins as a browser does and keeps a chat
socket and a phone device open; a broadcast reaches all 60 phones and a chat message all 60 tabs, every
time; and the dashboard's command to every phone gets all 60 replies. The figures (delivery p50 and p99,
the server's memory) are printed, never asserted."""

import asyncio

from classroom_support import classroom_server, session_cookie, sign_in_instructor
from kit.bench import classroom_load

STUDENTS = 60


def test_a_class_of_60_gets_every_broadcast_and_every_chat_message(redis_url):
    with classroom_server(redis_url, fast=True) as server:
        instructor = sign_in_instructor(server)
        cookie = session_cookie(instructor)
        figures = asyncio.run(
            classroom_load.measure(server, server.create_api_key("load"), STUDENTS, 10, instructor_cookie=cookie)
        )
        instructor.close()
    print("\n" + classroom_load.report(figures))
    replies = figures["dashboard_command_to_phones"]  # the dashboard's limit on running commands lets a class through
    assert replies["delivered"] == replies["expected"] == STUDENTS, figures
    for part in ("broadcast_to_phones", "chat_to_browsers"):
        assert figures[part]["delivered"] == figures[part]["expected"] == STUDENTS * 10, figures
    assert figures["errors"] == [], figures["errors"]
