"""python manage.py simulate_devices --url http://127.0.0.1:8000 --count 5 [--prefix sim] [--reply-delay 0]

Creates (or gives new tokens to) devices <prefix>-1..N in this project's database, connects each
to /ws/devices/<id>/ with its token, prints one line per event, answers every command, and
reconnects with backoff when the server or Redis goes away. Ctrl-C or SIGTERM: a clean exit.
"""

import asyncio
import signal

from django.core.management.base import BaseCommand, CommandError

from devices.models import DEVICE_ID
from devices.simulator import issue_devices, run_devices


class Command(BaseCommand):
    help = "Run N simulated devices against a live server: they answer commands and reconnect on their own."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="the server's base URL (http:// or ws://)")
        parser.add_argument("--count", type=int, default=5, help="how many devices (1-1000)")
        parser.add_argument("--prefix", default="sim", help="device ids are <prefix>-1 .. <prefix>-N")
        parser.add_argument("--reply-delay", type=float, default=0.0, help="seconds before answering a command")

    def handle(self, url, count, prefix, reply_delay, **options):
        if not 1 <= count <= 1000:
            raise CommandError("--count must be between 1 and 1000")
        if not DEVICE_ID.match(f"{prefix}-{count}"):
            raise CommandError("--prefix must be letters, digits, _ . - (device ids are <prefix>-<n>, at most 64)")
        if reply_delay < 0:
            raise CommandError("--reply-delay must be 0 or more")
        credentials = issue_devices(count, prefix)
        self.say(f"simulating {count} devices {prefix}-1..{prefix}-{count} against {url} (Ctrl-C to stop)")
        asyncio.run(self.simulate(url, credentials, reply_delay))
        self.say("stopped")

    async def simulate(self, url, credentials, reply_delay):
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await run_devices(url, credentials, stop, reply_delay, log=self.say)

    def say(self, line):
        print(line, flush=True)  # one line per event, unbuffered: instructors and tests read it live
