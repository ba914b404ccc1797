"""Running the project: a live server process (live_server.py) on daphne with the kit's limits
(daphne_limited.py, limits.py), several processes on one Redis (cluster.py), Redis found or started
(redis_service.py), ports (ports.py). Standard library only at import time, for `make doctor`."""
