"""The project's own settings, plus what the harness needs (LiveServer sets this module)."""

from mysite.settings import *  # noqa: F401,F403

ROOT_URLCONF = "kit.harness.urls"  # the learner's mysite.urls, or app by app if one is broken
ASGI_APPLICATION = "kit.harness.asgi.application"

# Classroom mode (kit/classroom/): on when KIT_CLASSROOM_HOST names the address students reach.
from kit import classroom  # noqa: E402

CLASSROOM_HOST = classroom.host_from_environment()
if CLASSROOM_HOST:
    from kit.classroom import config  # noqa: E402

    config.apply(globals(), CLASSROOM_HOST)

# The harness's one-line messages ("not done yet", "FAILED TO LOAD", "channel layer failed") go to
# the server's log whatever the project's LOGGING says: kit.lab.step_not_done and the grader read them.
LOGGING = {**LOGGING}  # noqa: F405
LOGGING["handlers"] = {**LOGGING.get("handlers", {}), "kit_console": {"class": "logging.StreamHandler"}}
LOGGING["loggers"] = {
    **LOGGING.get("loggers", {}),
    **{
        name: {"handlers": ["kit_console"], "level": "INFO", "propagate": False}
        for name in ("kit", "mysite.api", "devices.dashboard")  # the kit's, and the project's two (README: Logging)
    },
}
if "layer_drops" in LOGGING.get("filters", {}):
    # A pub/sub group_send that reached no server process is counted by the API request that made it
    # (kit/primary.py, mysite/overload.py): a 503 for an online device during a failover, not a silent 202.
    # DEBUG reaches the filter (an empty group's record is counted too); the handler prints INFO and above.
    LOGGING["handlers"]["kit_info_console"] = {"class": "logging.StreamHandler", "level": "INFO"}
    LOGGING["loggers"]["kit.primary"] = {"handlers": ["kit_info_console"], "level": "DEBUG",
                                         "filters": ["layer_drops"], "propagate": False}  # fmt: skip

# The kit's layers (kit/layers.py): the same kind the project's settings chose, checked against the
# server's record in Redis (another kind on the same Redis and prefix is an error, not silence), and
# direct sends on the shard where receive() reads (channels_redis#221).
from kit.layers import kit_backend  # noqa: E402

CHANNEL_LAYERS = {
    alias: {**layer, "BACKEND": kit_backend(layer.get("BACKEND", ""))}
    for alias, layer in CHANNEL_LAYERS.items()  # noqa: F405
}
