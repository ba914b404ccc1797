"""Scaling out: two or more server processes of one project sharing one Redis and one database.

Every process is a LiveServer with the same db_path, layer_prefix and redis_url, so a device
connected to process A is reachable from a POST sent to process B (the layer is Redis), and
presence agrees on both (the rows are in the one database file).

    with Cluster(redis_url=redis.url, size=2) as cluster:
        a, b = cluster.servers
        token = cluster.manage("create_device", "sensor-1")
        # connect sensor-1 to a.ws_url, POST to b.http_url: the push crosses processes
"""

import shutil
import tempfile
import uuid
from pathlib import Path

from kit import PROJECT_DIR
from kit.serving.live_server import LiveServer, ServerFailed


class Cluster:
    def __init__(self, redis_url, size=2, project_dir=PROJECT_DIR, layer_prefix=None, env=None, debug=False, fast=None):
        if not redis_url:
            # The in-memory layer lives inside one process: nothing would cross between them.
            raise ServerFailed("a cluster needs Redis: the in-memory layer cannot reach another process")
        if size < 2:
            raise ValueError("a cluster has two or more server processes")
        self.workdir = tempfile.mkdtemp(prefix="kit-cluster-")
        self.db_path = str(Path(self.workdir) / "db.sqlite3")
        self.layer_prefix = layer_prefix or f"cluster{uuid.uuid4().hex[:8]}"
        self.redis_url = redis_url
        self.servers = [
            LiveServer(
                project_dir=project_dir,
                redis_url=redis_url,
                db_path=self.db_path,
                layer_prefix=self.layer_prefix,
                env=env,
                debug=debug,
                fast=fast,
            )
            for _ in range(size)
        ]

    def start(self):
        """Migrates the shared database once, then starts every process; stops them all on failure."""
        first, *others = self.servers
        try:
            first.start()  # runs migrate on the shared file
            for server in others:
                server.migrated = True  # same file: migrating again would only race the first
                server.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        for server in self.servers:
            server.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def __getitem__(self, index):
        return self.servers[index]

    def __len__(self):
        return len(self.servers)

    def manage(self, *args, **kwargs):
        """A management command against the shared database (any process's settings will do)."""
        return self.servers[0].manage(*args, **kwargs)

    def create_device(self, device_id):
        return self.servers[0].create_device(device_id)

    def create_api_key(self, name):
        return self.servers[0].create_api_key(name)

    def channel_layer(self):
        """A RedisChannelLayer in the caller's process that reaches the consumers of every process."""
        return self.servers[0].channel_layer()

    def pids(self):
        return [server.process.pid for server in self.servers if server.process]
