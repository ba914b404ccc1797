"""What this machine offers the kit: a Chromium to drive, and whether a local port is free.

Only the standard library, so that `make doctor` can use it before anything is installed.
"""
import os
import shutil
import socket
from pathlib import Path

CHROMIUM_NAMES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
MAC_CHROME = "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"


def find_chromium():
    """The Chromium or Chrome executable to drive: KIT_CHROMIUM, else the usual names; or None."""
    explicit = os.environ.get("KIT_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    for name in CHROMIUM_NAMES:
        found = name if Path(name).is_file() else shutil.which(name)
        if found:
            return found
    return MAC_CHROME if Path(MAC_CHROME).is_file() else None


def port_is_free(port, host="127.0.0.1"):
    """True if a server could listen on host:port now (port 0: any free port)."""
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
            return True
        except OSError:
            return False
