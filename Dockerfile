# kpops-bot: the webhook server, the default kpops, git and bubblewrap (the sandbox's namespaces layer).
#
#   docker build -t kpops-bot .
#   docker run -p 8080:8080 -v kpops-bot-data:/data -e KPOPS_BOT_GITHUB__WEBHOOK_SECRET=... \
#     --security-opt seccomp=unconfined --security-opt systempaths=unconfined kpops-bot
#
# The base must have python3 with venv: 3.12 renders every kpops version the bot supports (kpops 8 needs <= 3.12).
ARG BASE_IMAGE=python:3.12-slim-bookworm

FROM ${BASE_IMAGE} AS build
# Behind an intercepting proxy, put its CA bundle as pip-cert.pem in the build context: pip uses it in this build
# stage, and the image gets only /opt/kpops-bot from the stage.
COPY pyproject.toml README.md LICENSE pip-cert.pe[m] /src/
COPY kpops_bot /src/kpops_bot
COPY webhooks /src/webhooks
# The example deployment repository and charts of `kpops-bot playground` (the wheel carries them).
COPY fixtures/deployment-repo /src/fixtures/deployment-repo
COPY fixtures/charts /src/fixtures/charts
RUN if [ -f /src/pip-cert.pem ]; then export PIP_CERT=/src/pip-cert.pem; fi \
    && python3 -m venv /opt/kpops-bot \
    && /opt/kpops-bot/bin/pip install --no-cache-dir --disable-pip-version-check --quiet '/src[postgres]'

FROM ${BASE_IMAGE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends git bubblewrap tini ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/kpops-bot /opt/kpops-bot
RUN useradd --system --uid 10001 --user-group --home-dir /data --no-create-home --shell /usr/sbin/nologin kpops-bot \
    && mkdir -p /data && chown kpops-bot:kpops-bot /data
ENV PATH=/opt/kpops-bot/bin:$PATH \
    KPOPS_BOT_DATA_DIR=/data \
    KPOPS_BOT_HOST=0.0.0.0 \
    KPOPS_BOT_PORT=8080 \
    PYTHONDONTWRITEBYTECODE=1
VOLUME /data
WORKDIR /data
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['KPOPS_BOT_PORT'] + '/healthz', timeout=4)"]
ENTRYPOINT ["tini", "--", "kpops-bot"]
CMD ["serve"]
