# The dashboard (web, gateway, feeds) in one image. Redis comes from REDIS_URL
# (see docker-compose.yml); without it the image's embedded Redis keeps data in /data.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    CRISIS_HOST=0.0.0.0 CRISIS_PORT=8050 CRISIS_DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY crisis ./crisis
COPY assets ./assets
COPY app.py ./
# The GDACS and USGS samples that `crisis demo` polls when no feed URL is set.
COPY tests/samples ./tests/samples
# Editable, so the package finds assets/ beside it (crisis/bootstrap.py ASSETS).
RUN pip install --no-cache-dir -c constraints.txt -e . \
 && useradd --system --home /app crisis && mkdir -p /data && chown crisis /data

USER crisis
VOLUME ["/data"]
EXPOSE 8050
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8050/healthz')"
CMD ["crisis", "serve"]
