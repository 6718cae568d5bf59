# syntax=docker/dockerfile:1
#
# Recovery Engine: one image for the worker (the default command) and the alarm receiver
# (`node bin/recovery.js serve`). It runs the TypeScript sources through tsx, as a clone does (no
# compile step), with the workflow bundle prebuilt here so that a worker starts without webpack.
#
#   docker build -t recovery-engine .
#   docker build -t recovery-engine --build-arg DATA_STORE_PACKAGES= .   # AWS kinds only: a smaller image
#
# Runs as the unprivileged user `recovery` (uid 10001). Paths: plans are read from /plans,
# drill evidence goes to /var/lib/recovery/reports, the examples' self-hosted backups to /srv/backups.

ARG NODE_IMAGE=node:20.20.2-bookworm-slim
ARG GO_IMAGE=golang:1.24.13-bookworm

FROM ${NODE_IMAGE} AS node

# Production dependencies only: tsx runs the sources, so no dev tooling is needed. No install
# scripts: the only ones (esbuild, @swc/core, protobufjs) merely check their prebuilt binaries, and
# package.json's allowScripts turns them off as well.
FROM node AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# The application and its workflow bundle (`npm run build` → dist/workflow-bundle.js).
FROM node AS app
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY activities ./activities
COPY backups ./backups
COPY bin ./bin
COPY cli ./cli
COPY codec ./codec
COPY evidence ./evidence
COPY http ./http
COPY plan ./plan
COPY toolchain ./toolchain
COPY triggers ./triggers
COPY workers ./workers
COPY workflows ./workflows
COPY scripts/build-workflow-bundle.ts ./scripts/
RUN npm run build

# OpenTofu for the terraform kind, built by the same code and at the same pinned version as the
# tests' (toolchain/opentofu.ts): sources from the Go module proxy, verified by the Go checksum
# database, so no checksum needs maintaining here, on every platform Go builds for. About five
# minutes on two cores the first time; the build cache makes rebuilds quick.
FROM ${GO_IMAGE} AS opentofu
COPY --from=node /usr/local/bin/node /usr/local/bin/node
WORKDIR /build
COPY --from=deps /app/node_modules ./node_modules
COPY tsconfig.json ./
COPY toolchain ./toolchain
COPY deploy/docker/build-opentofu.ts ./deploy/docker/
RUN --mount=type=cache,target=/root/.cache/go-build --mount=type=cache,target=/go/pkg/mod \
    node --import tsx deploy/docker/build-opentofu.ts /opt/opentofu/tofu

FROM node AS runtime
# The programs the self-hosted kinds run (toolchain/data-servers.ts names the same packages). The
# servers are here not to serve but because backups and restores start them: a restore prepares
# and starts mariadbd, postgres, redis-server or influxd on a scratch port and data directory to
# replay logs and validate, and `backup.verify: restore` does the same. Their services never start
# in a container; Debian's default PostgreSQL cluster is not even created.
ARG DATA_STORE_PACKAGES="mariadb-server mariadb-backup mariadb-client postgresql redis-server redis-tools influxdb influxdb-client"
# tini as PID 1: forwards SIGTERM to the worker (which then drains) and reaps the servers that
# restores start. git and ssh for git-repo components and module sources of terraform ones.
RUN set -eux; \
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; \
    chmod 755 /usr/sbin/policy-rc.d; \
    mkdir -p /etc/postgresql-common; \
    echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf; \
    apt-get update; \
    apt-get install -y --no-install-recommends tini ca-certificates git openssh-client ${DATA_STORE_PACKAGES}; \
    rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d; \
    if [ -d /var/lib/mysql ]; then find /var/lib/mysql -mindepth 1 -delete; fi; \
    groupadd --system --gid 10001 recovery; \
    useradd --system --uid 10001 --gid recovery --create-home --home-dir /home/recovery --shell /usr/sbin/nologin recovery; \
    mkdir -p /plans /var/lib/recovery/reports /srv/backups; \
    chown recovery:recovery /var/lib/recovery/reports /srv/backups
COPY --from=opentofu /opt/opentofu/tofu /usr/local/bin/tofu
# Owned by root, so the worker cannot change its own code.
COPY --from=app /app /app
WORKDIR /app
ENV RECOVERY_WORKFLOW_BUNDLE=/app/dist/workflow-bundle.js \
    RECOVERY_PLANS_DIR=/plans \
    RECOVERY_REPORTS_DIR=/var/lib/recovery/reports
USER 10001:10001
# 9464: the worker's Prometheus metrics (RECOVERY_METRICS_ADDRESS); 9095: `recovery serve`.
EXPOSE 9464 9095
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "--import", "tsx", "workers/main.ts"]
