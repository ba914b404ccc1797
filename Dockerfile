# One image for the compose services `web` and `lab`.
FROM python:3.11-slim
WORKDIR /kit
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
ENV PYTHONUNBUFFERED=1
