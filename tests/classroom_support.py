"""Classroom mode in tests: a server at 127.0.0.2, which stands in for the LAN address students reach
(loopback all the same: no test traffic ever leaves this machine), and what a student and the instructor
do over HTTP: join, sign in."""

import json
import re

import httpx

from kit.bench import classroom_load as load
from kit.demo import INSTRUCTOR, create_instructor

CLASSROOM_HOST = load.HOST
TICKET = re.compile(r'<script id="join-ticket" type="application/json">(.*?)</script>')
DEVICE = re.compile(r'<script id="join-device" type="application/json">(.*?)</script>')


def classroom_server(redis_url, fast=None, **env):
    """A LiveServer in classroom mode, listening on 127.0.0.2 only, DEBUG off (fast None: KIT_SERVED decides)."""
    return load.classroom_server(redis_url, fast=fast, **env)


def join(server, name):
    """A student joins as name: (their browser's httpx client, with its session, their device id, their ticket)."""
    client = httpx.Client(base_url=server.http_url, timeout=10)
    client.get("/classroom/join/").raise_for_status()
    joined = client.post("/classroom/join/", data={"name": name, "csrfmiddlewaretoken": client.cookies["csrftoken"]})
    assert joined.status_code == 200, joined.text[:500]
    device, ticket = json.loads(DEVICE.search(joined.text)[1]), json.loads(TICKET.search(joined.text)[1])
    return client, device, ticket


def sign_in_instructor(server):
    """An httpx client signed in as the instructor (a staff user, as make demo creates it)."""
    password = create_instructor(server)
    client = httpx.Client(base_url=server.http_url, timeout=10)
    client.get("/devices/login/")
    signed_in = client.post(
        "/devices/login/",
        data={"username": INSTRUCTOR, "password": password, "csrfmiddlewaretoken": client.cookies["csrftoken"]},
    )
    assert signed_in.status_code == 302, signed_in.text[:300]
    return client


def session_cookie(client):
    return f"sessionid={client.cookies['sessionid']}"
