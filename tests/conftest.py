"""Fixtures shared by the kit's own tests (the grading tests have theirs in tests/grading/)."""

import os

import pytest

from kit.serving import redis_service


@pytest.fixture(scope="session")
def redis_url():
    """The run's Redis: REDIS_URL (`make test` sets it), else one found or started for the session."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    with redis_service.running(quiet=True) as handle:
        yield handle.url


@pytest.fixture(scope="module")
def redis():
    """A Redis of this test module's own, started by the kit: its tests may kill and restart it."""
    from live_support import own_redis

    handle = own_redis()
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def django_in_memory():
    """Django set up in this process with the in-memory layer and a fresh database, exactly as a
    notebook's setup_django() does: for unit tests with WebsocketCommunicator."""
    from django.core.management import call_command

    from kit.notebook import setup_django

    settings = setup_django()
    call_command("migrate", verbosity=0)
    assert settings.CHANNEL_LAYERS["default"]["BACKEND"] == "channels.layers.InMemoryChannelLayer"
    yield settings


# Under pytest-xdist (`make test`: -n 4 --dist loadfile) a module's tests run on one worker, in order:
# a module-scoped fixture (a graded class, a bench run, a server, a Chromium) is built once, and a
# module's process checks never meet its own tests' processes from another worker. The notebook
# modules thus keep one kernel each at a time. These modules' tests are independent gradings of
# a minute each: they are spread one by one.
SPREAD_MODULES = ("tests/kit/grading/test_grader.py", "tests/kit/grading/test_sandbox_modes.py")


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist, which the grader's pytest does not load
def pytest_xdist_make_scheduler(config, log):
    """--dist loadfile, except that SPREAD_MODULES' tests go to workers one by one."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class ByModuleSpreadingGradings(LoadFileScheduling):
        def _split_scope(self, nodeid):
            module = nodeid.split("::", 1)[0]
            return nodeid if module in SPREAD_MODULES else module

    return ByModuleSpreadingGradings(config, log)


def pytest_terminal_summary(terminalreporter):
    """Browser tests ran and no Chromium was found: say how to install it, once, at the end."""
    try:
        from browser_support import INSTALL_HELP, find_chromium
    except ImportError:  # a copy of the tests without the browser tests
        return
    browser_reports = [
        r
        for r in terminalreporter.stats.get("failed", []) + terminalreporter.stats.get("error", [])
        if "test_browser.py" in r.nodeid
    ]
    if browser_reports and find_chromium() is None:
        terminalreporter.section("browser tests need Chromium", sep="-", yellow=True)
        terminalreporter.write_line(INSTALL_HELP)
