"""channels-redis 4.3.0's own Sentinel suites (tests/kit/upstream/, copied verbatim with their license) against
the layers the kit serves, on the kit's Sentinel set (issue 23).

Adapted by substitution only, each listed in substitutions(): the Sentinel's address (and the plain Redis
address a few tests imply), the master's name, the
Sentinel password, and the layer class imported (the kit's core layer; the kit's pub/sub layer and the
fast variant's). Each suite runs in a pytest of its own, with upstream's settings (asyncio_mode=auto,
-p no:django), and its summary is printed. The core suite (test_sentinel.py: ChannelFull, capacity,
expiry) runs against the core layer only: the pub/sub layers have no such behaviour.
"""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kit import REPO_DIR
from kit.serving import sentinel_set

UPSTREAM = Path(__file__).parent / "upstream"
SUITES = {  # file -> sha256 of the copy (what upstream's tag 4.3.0 holds)
    "test_sentinel.py": "cc1363b4626fd53b8baad0f85c1ef6669affe2e4a0212123618b7b7220ade150",
    "test_pubsub_sentinel.py": "2d1a18aab5ce123885f42474ea37d22c706a33e6649fc3d4e0006dca9ee50c0e",
}
SENTINEL_PASSWORD = "kit sentinel pw"
LAYERS = {  # (suite, layer) -> the upstream import line and what replaces it
    ("test_sentinel.py", "kit core"): (
        "from channels_redis.core import ChannelFull, RedisChannelLayer",
        "from channels_redis.core import ChannelFull\nfrom kit.layers import RedisChannelLayer",
    ),
    ("test_pubsub_sentinel.py", "kit pubsub"): (
        "from channels_redis.pubsub import RedisPubSubChannelLayer",
        "from kit.layers import RedisPubSubChannelLayer",
    ),
    ("test_pubsub_sentinel.py", "fast variant"): (
        "from channels_redis.pubsub import RedisPubSubChannelLayer",
        "from kit.fast.layer import BoundedPubSubChannelLayer as RedisPubSubChannelLayer",
    ),
}


# Upstream's CI also runs a plain Redis on localhost:6379, and a few tests of its Sentinel suite make their layer
# with no hosts, so on that one: the address they imply is substituted too, with the kit's Sentinel shard.
DEFAULT_ADDRESS = [
    ("RedisChannelLayer()", "RedisChannelLayer(hosts=TEST_HOSTS)"),
    ("RedisChannelLayer(capacity=30)", "RedisChannelLayer(hosts=TEST_HOSTS, capacity=30)"),
    ("RedisChannelLayer(expiry=expiry)", "RedisChannelLayer(hosts=TEST_HOSTS, expiry=expiry)"),
]


def substitutions(port, layer_import, suite):
    return [
        ('("localhost", 26379)', f'("127.0.0.1", {port})'),  # the address
        *(DEFAULT_ADDRESS if suite == "test_sentinel.py" else []),
        ('SENTINEL_MASTER = "sentinel"', 'SENTINEL_MASTER = "kit1"'),  # the master's name
        ('{"password": "channels_redis"}', f'{{"password": "{SENTINEL_PASSWORD}"}}'),  # the Sentinel password
        layer_import,
    ]


@pytest.fixture(scope="module")
def sentinels():
    with sentinel_set.running(shards=1, sentinel_password=SENTINEL_PASSWORD) as started:
        yield started


@pytest.mark.parametrize(("suite", "layer"), list(LAYERS), ids=[f"{s} on {n}" for s, n in LAYERS])
def test_upstream_sentinel_suite_passes(sentinels, tmp_path, suite, layer):
    text = (UPSTREAM / f"channels_redis-4.3.0-{suite}.txt").read_text()
    assert hashlib.sha256(text.encode()).hexdigest() == SUITES[suite], "the copy is no longer upstream's"
    port = next(iter(sentinels.shards[0].sentinels))
    for old, new in substitutions(port, LAYERS[(suite, layer)], suite):
        assert old in text, f"{old!r} is not in upstream's {suite}"
        text = text.replace(old, new)
    (tmp_path / suite).write_text(text)
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = -p no:django\nasyncio_mode = auto\n")  # upstream's
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", suite],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_DIR), str(REPO_DIR / "project")])},
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = result.stdout.strip().splitlines()
    print(f"\n[upstream {suite} on the {layer} layer] {lines[-1] if lines else result.stderr[-500:]}")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
