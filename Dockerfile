# syntax=docker/dockerfile:1
# MIS Bridge appliance image. Install steps are the Makefile's (`make install-prod`).

FROM python:3.11-slim-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends make gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md Makefile ./
COPY bridge ./bridge
COPY adapters ./adapters
RUN make install-prod VENV=/opt/bridge/venv

FROM python:3.11-slim-bookworm
# GOST R 34.10/34.11-2012 for OpenSSL 3 (ЕСИА signatures).
RUN apt-get update && apt-get install -y --no-install-recommends libengine-gost-openssl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /srv/bridge --create-home bridge
COPY --from=build /opt/bridge/venv /opt/bridge/venv
WORKDIR /srv/bridge
COPY --chown=bridge:bridge wsdl ./wsdl
COPY --chown=bridge:bridge mappings ./mappings
ENV PATH=/opt/bridge/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    BRIDGE_HOST=0.0.0.0 \
    BRIDGE_PORT=8080 \
    BRIDGE_WSDL_DIR=/srv/bridge/wsdl \
    BRIDGE_MAPPINGS_DIR=/srv/bridge/mappings \
    BRIDGE_DATABASE_URL=sqlite:////srv/bridge/var/bridge.db
USER bridge
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=2).status == 200 else 1)"
ENTRYPOINT ["bridge"]
CMD ["serve"]
