"""REDIS_URL's grammar (project/mysite/redis_url.py, the contract's turn-4 extension): one Redis or
shards separated by commas, Sentinel parsed, a malformed value refused at start with what is wrong."""

import json
import os
import subprocess
import sys

import pytest

from kit import PROJECT_DIR
from kit.layers import redis_url_module

redis_url = redis_url_module()


def test_one_redis_is_one_shard():
    (shard,) = redis_url.parse("redis://127.0.0.1:6379/2")
    assert (shard["host"], shard["port"], shard["db"]) == ("127.0.0.1", 6379, 2)


def test_a_comma_followed_by_a_scheme_starts_the_next_shard():
    shards = redis_url.parse("redis://h1:6379/0,rediss://:pw@h2:6380/1,redis://[::1]:7000")
    assert [redis_url.name(shard) for shard in shards] == [
        "redis://h1:6379/0",
        "rediss://h2:6380/1",
        "redis://::1:7000/0",
    ]
    assert shards[1]["password"] == "pw"
    hosts = redis_url.channel_layer_hosts("redis://h1:6379/0,redis://h2:6379/0", socket_connect_timeout=2)
    assert hosts == [
        {"address": "redis://h1:6379/0", "socket_connect_timeout": 2},
        {"address": "redis://h2:6379/0", "socket_connect_timeout": 2},
    ]


def test_inside_a_sentinel_url_commas_separate_the_sentinels():
    first, second = redis_url.parse(
        "redis+sentinel://:pw@s1:26379,s2/mymaster/3?sentinel_password=spw,redis://h9:6379/0"
    )
    assert first["sentinels"] == [("s1", 26379), ("s2", 26379)]
    assert (first["master_name"], first["db"], first["password"], first["sentinel_password"]) == (
        "mymaster",
        3,
        "pw",
        "spw",
    )
    assert second["host"] == "h9"
    hosts = redis_url.channel_layer_hosts(
        "redis+sentinel://:pw@s1:26379,s2/mymaster/3?sentinel_password=spw,redis://h9:6379/0", socket_connect_timeout=2
    )
    assert hosts[0] == {
        "sentinels": [("s1", 26379), ("s2", 26379)],
        "master_name": "mymaster",
        "sentinel_kwargs": {"socket_connect_timeout": 2, "socket_timeout": 2, "password": "spw"},
        "db": 3,
        "socket_connect_timeout": 2,
        "password": "pw",
    }
    assert hosts[1] == {"address": "redis://h9:6379/0", "socket_connect_timeout": 2}


@pytest.mark.parametrize(
    "value, says",
    [
        ("redis://h1:6379,h2:6379", "give each shard its own scheme"),
        ("http://h1:6379", "a shard starts with redis://"),
        ("redis://h1:70000/0", "port '70000'"),
        ("redis://h1:6379/zero", "database 'zero'"),
        ("redis+sentinel://s1:26379", "no master name"),
        ("redis://h1:6379/0,redis://h1:6379/0", "twice"),
    ],
)
def test_a_malformed_value_says_what_is_wrong(value, says):
    with pytest.raises(redis_url.BadRedisUrl, match=says):
        redis_url.parse(value)


def test_passwords_stay_out_of_names_and_logs():
    assert redis_url.redact("redis://:secret@h1:6379/0,redis://u:pw@h2") == "redis://:***@h1:6379/0,redis://u:***@h2"
    assert "secret" not in redis_url.name(redis_url.parse("redis://:secret@h1:6379/0")[0])
    sentinel = "redis+sentinel://:secret@s1:26379,s2/m?sentinel_password=hidden,redis://h2"
    assert redis_url.redact(sentinel) == "redis+sentinel://:***@s1:26379,s2/m?sentinel_password=***,redis://h2"


def run_project(code, **env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "CHANNEL_", "DJANGO_"))}
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=PROJECT_DIR,
        env={**clean, "DJANGO_SETTINGS_MODULE": "mysite.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_settings_turn_shards_into_hosts_and_the_kind_into_a_backend():
    code = "from django.conf import settings; import json; print(json.dumps(settings.CHANNEL_LAYERS['default']))"
    result = run_project(code, REDIS_URL="redis://h1:6379/0,redis://h2:6379/0", CHANNEL_LAYER="pubsub")
    layer = json.loads(result.stdout)
    assert layer["BACKEND"] == "mysite.layers.RedisPubSubChannelLayer"
    assert [host["address"] for host in layer["CONFIG"]["hosts"]] == ["redis://h1:6379/0", "redis://h2:6379/0"]


@pytest.mark.parametrize(
    "env, says",
    [
        ({"REDIS_URL": "redis://h1:6379,h2:6379"}, "REDIS_URL: shard 1"),
        ({"REDIS_URL": "redis://h1:6379/0", "CHANNEL_LAYER": "fast"}, "CHANNEL_LAYER='fast': core or pubsub"),
    ],
)
def test_a_malformed_setting_stops_the_process_at_start(env, says):
    result = run_project("pass", **env)
    assert result.returncode != 0 and "ImproperlyConfigured" in result.stderr and says in result.stderr
