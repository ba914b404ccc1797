# One image for the compose services `web` and `lab`.
FROM python:3.11-slim
# redis-server: notebook 04 starts, kills and restarts a Redis of its own; installed here so that
# nothing is downloaded at run time (kit/serving/redis_service.py finds it on PATH).
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /kit
# requirements.txt has what the notebooks need, their self-check's pytest included.
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
ENV PYTHONUNBUFFERED=1
