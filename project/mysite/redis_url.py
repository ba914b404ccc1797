"""REDIS_URL: one Redis, or several shards of one channel layer, separated by commas.

    redis://127.0.0.1:6379/0                                  one Redis
    redis://h1:6379/0,redis://h2:6379/0,rediss://h3:6380/0    three shards (channels-redis `hosts`)
    redis+sentinel://s1:26379,s2:26379/mymaster               a shard behind Sentinel (a primary, replicas)

A comma followed by a scheme (redis://, rediss://, redis+sentinel://) starts the next shard. Inside a
redis+sentinel:// shard, commas separate the Sentinels' addresses; the path is the master's name, then
optionally its database (`/mymaster/0`). Passwords: `redis://:secret@h1:6379/0` for a Redis;
`redis+sentinel://:secret@s1:26379,s2:26379/mymaster` is the master's password and
`?sentinel_password=...` the Sentinels' own.

Every process that shares the layer must be given the same list in the same order: the shard of a
group or a channel is picked from its name and the number of shards (crc32 & 0xFFF split into
equal ranges), so another order or another count sends it elsewhere.
"""

import re
from urllib.parse import parse_qs, unquote, urlsplit

SCHEMES = ("redis", "rediss", "redis+sentinel")
SHARD_START = re.compile(r",(?=(?:redis|rediss|redis\+sentinel)://)")


class BadRedisUrl(ValueError):
    pass


def split_shards(value):
    """The shards' URLs, in order: a comma followed by a scheme starts the next one."""
    return [part.strip() for part in SHARD_START.split(value.strip())]


def _port(text, default, what):
    if not text:
        return default
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise BadRedisUrl(f"{what}: port {text!r} is not a number from 1 to 65535")
    return int(text)


def _address(text, default_port, what):
    """host:port, [v6]:port or host -> (host, port)."""
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::(.*))?|([^:\[\]/]+)(?::(.*))?", text)
    if not match:
        raise BadRedisUrl(f"{what}: {text!r} is not host:port")
    host = match.group(1) or match.group(3)
    return host, _port(match.group(2) if match.group(1) else match.group(4), default_port, what)


def parse_shard(url, number=1):
    """One shard's URL -> a dict: {"scheme", "host", "port", "db", "url"} for a Redis, or
    {"scheme": "redis+sentinel", "sentinels": [(host, port), ...], "master_name", "db", ...}."""
    what = f"shard {number} ({redact(url)})"
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in SCHEMES:
        raise BadRedisUrl(
            f"{what}: starts with {scheme + sep!r}; a shard starts with redis://, rediss:// or redis+sentinel://"
        )
    netloc, path, query = re.fullmatch(r"([^/?]*)([^?]*)\??(.*)", rest).groups()
    userinfo, at, hosts = netloc.rpartition("@")
    if not hosts:
        raise BadRedisUrl(f"{what}: no host")
    password = unquote(userinfo.partition(":")[2]) if at else None
    if scheme == "redis+sentinel":
        sentinels = [_address(part, 26379, what) for part in hosts.split(",")]
        if any(not host for host, _ in sentinels):
            raise BadRedisUrl(f"{what}: an empty Sentinel address")
        parts = [part for part in path.split("/") if part]
        if not parts:
            raise BadRedisUrl(f"{what}: no master name (redis+sentinel://s1:26379,s2:26379/<master name>)")
        if len(parts) > 2 or (len(parts) == 2 and not parts[1].isdigit()):
            raise BadRedisUrl(f"{what}: the path is /<master name> or /<master name>/<db number>")
        options = parse_qs(query)
        return {
            "scheme": scheme,
            "sentinels": sentinels,
            "master_name": unquote(parts[0]),
            "db": int(parts[1]) if len(parts) == 2 else 0,
            "password": password,
            "sentinel_password": options.get("sentinel_password", [None])[0],
            "url": url,
        }
    if "," in hosts:
        raise BadRedisUrl(
            f"{what}: a comma inside one Redis's address; give each shard its own scheme "
            "(redis://h1:6379/0,redis://h2:6379/0)"
        )
    host, port = _address(hosts, 6379, what)
    db = path.strip("/") or "0"
    if not db.isdigit():
        raise BadRedisUrl(f"{what}: the database {db!r} is not a number")
    return {"scheme": scheme, "host": host, "port": port, "db": int(db), "password": password, "url": url}


def parse(value):
    """REDIS_URL -> its shards (parse_shard's dicts), or BadRedisUrl saying what is wrong."""
    if not value or not value.strip():
        raise BadRedisUrl("REDIS_URL is empty")
    shards = [parse_shard(url, number) for number, url in enumerate(split_shards(value), 1)]
    seen = set()
    for shard in shards:
        key = name(shard)
        if key in seen:
            raise BadRedisUrl(f"REDIS_URL names {key} twice: each shard must be another Redis (or database)")
        seen.add(key)
    return shards


def redact(url):
    """The URL without its password (for logs and start-up lines)."""
    url = re.sub(r"(://[^:@/,]*:)[^@/]*@", r"\1***@", url)
    return re.sub(r"([?&]sentinel_password=)[^&,]*", r"\1***", url)


def name(shard):
    """A shard as the start-up line and the layer's agreement record show it: no password."""
    if shard["scheme"] == "redis+sentinel":
        sentinels = ",".join(f"{host}:{port}" for host, port in shard["sentinels"])
        return f"redis+sentinel://{sentinels}/{shard['master_name']}/{shard['db']}"
    return f"{shard['scheme']}://{shard['host']}:{shard['port']}/{shard['db']}"


def sentinel_host(shard, **options):
    """A redis+sentinel:// shard -> its channels-redis host entry (channels-redis 3.3+: redis-py's
    SentinelConnectionPool asks the Sentinels for the current primary at each new connection).
    `options` (socket_connect_timeout) apply to the primary's connections and to the Sentinels'."""
    sentinel_kwargs = {key: value for key, value in options.items() if key.startswith("socket_connect")}
    sentinel_kwargs["socket_timeout"] = options.get("socket_connect_timeout", 2)  # a silent Sentinel: next one
    if shard["sentinel_password"]:
        sentinel_kwargs["password"] = shard["sentinel_password"]
    host = {
        "sentinels": list(shard["sentinels"]),
        "master_name": shard["master_name"],
        "sentinel_kwargs": sentinel_kwargs,
        "db": shard["db"],
        **options,
    }
    if shard["password"]:
        host["password"] = shard["password"]
    return host


def channel_layer_hosts(value, **options):
    """REDIS_URL -> channels-redis `hosts` entries, each with `options` (e.g. socket_connect_timeout)."""
    hosts = []
    for shard in parse(value):
        if shard["scheme"] == "redis+sentinel":
            hosts.append(sentinel_host(shard, **options))
        else:
            hosts.append({"address": shard["url"], **options})
    return hosts
