"""`make bench`: the kit's project, the seed tutorial's pattern and a bare-ASGI floor, side by side.

    python -m kit.bench [--quick] [--out FILE]

The runner is kit.bench.runner, the measurements kit.bench.measure, the systems kit.bench.systems;
the seed pattern's tiny Django project is kit/bench/seed_tutorial/, the floor kit/bench/floor.py.
"""
