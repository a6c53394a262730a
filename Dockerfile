# callflow runtime image: Debian 12 (bookworm) slim with the callflow binary.
#
# callflow links SQLite through cgo, so the binary must be built against
# bookworm's glibc (or older): build it on Debian 12 or in a bookworm build
# container, then build the image from the repository root:
#
#   make build                     # bin/callflow
#   docker build -t callflow .
#
# Without a registry, import a local base first and name it with BASE
# (docs/docker.md):
#
#   mmdebstrap --variant=minbase bookworm - | docker import - callflow-base:bookworm-slim
#   docker build --network host --build-arg BASE=callflow-base:bookworm-slim -t callflow .
#
# Run: the configuration (config.yaml, flows, secrets) is mounted read-only
# on /etc/callflow; the SQLite store and recordings live in /var/lib/callflow
# (relative paths in config.yaml are relative to /etc/callflow, so give
# store.path and media.dir as absolute paths under /var/lib/callflow).
#
#   docker run -d --name callflow --network host \
#     -v /srv/callflow/etc:/etc/callflow:ro -v callflow-data:/var/lib/callflow callflow
ARG BASE=debian:bookworm-slim
FROM ${BASE}

ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    CALLFLOW_HEALTHZ=http://127.0.0.1:8080/healthz

# curl answers the HEALTHCHECK; ca-certificates lets callflow reach an ARI
# served over https.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin

# A dedicated unprivileged user; fixed ids so a bind-mounted data folder
# can be given to it (chown 10001:10001).
RUN groupadd --system --gid 10001 callflow \
 && useradd --system --uid 10001 --gid callflow --home-dir /var/lib/callflow --no-create-home --shell /usr/sbin/nologin callflow \
 && install -d -o root -g callflow -m 0750 /etc/callflow \
 && install -d -o callflow -g callflow -m 0750 /var/lib/callflow

COPY bin/callflow /usr/bin/callflow
COPY examples/config/callflow.yaml /usr/share/callflow/examples/config.yaml
COPY examples/flows/ /usr/share/callflow/examples/flows/

USER callflow:callflow
WORKDIR /var/lib/callflow
VOLUME ["/etc/callflow", "/var/lib/callflow"]
EXPOSE 8080

# /healthz answers 200 while the switch connection is up. Set
# CALLFLOW_HEALTHZ when api.listen is not 127.0.0.1:8080.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD curl -fsS -o /dev/null "$CALLFLOW_HEALTHZ" || exit 1

# callflow drains on SIGTERM (calls stay up in the switch); give `docker
# stop` a longer --time than the config's shutdown_timeout.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/callflow", "serve"]
CMD ["--config", "/etc/callflow/config.yaml"]
