# syntax=docker/dockerfile:1
# The vecshift image: the `vecshift` CLI, running the gateway by default. Build, run and
# the chart: docs/deployment.md. Every subcommand runs from it (`docker run IMAGE copy ...`).

# package.json's engines asks for Node >= 20.18.1. Slim: no compilers (no dependency builds
# native code) and no curl, so the health check below uses node itself.
ARG NODE_IMAGE=node:20.19-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
# Manifests before sources: the dependency layer is reused while only sources change.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
# package.json stays beside dist/: the CLI reads its version from ../../package.json.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist ./dist

# A numeric user, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
# The data directory is the only writable place: file write log, control store,
# checkpoints. It is created and owned here so a fresh named volume inherits the owner.
RUN groupadd --system --gid 10001 vecshift \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/vecshift --no-create-home --shell /usr/sbin/nologin vecshift \
 && mkdir -p /var/lib/vecshift /etc/vecshift \
 && chown 10001:10001 /var/lib/vecshift
VOLUME ["/var/lib/vecshift"]
# Relative paths in a config (the defaults are ./vecshift-data/...) land in the volume too.
WORKDIR /var/lib/vecshift
USER 10001:10001

# gateway.listen.port and admin.listen.port as docs/deployment.md and the chart set them.
EXPOSE 8080 9090

# /healthz on the admin port. 127.0.0.1 reaches it whether admin.listen.host is loopback or
# 0.0.0.0; set VECSHIFT_HEALTHCHECK_URL when the admin port is another one. (Single
# underscore: not a VECSHIFT__ config override.)
ENV VECSHIFT_HEALTHCHECK_URL=http://127.0.0.1:9090/healthz
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.VECSHIFT_HEALTHCHECK_URL,{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# node is pid 1 and handles SIGTERM itself: the gateway drains for gateway.shutdownTimeoutMs
# and closes the write log. Give `docker stop` at least that long (--stop-timeout / -t).
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["gateway", "--config", "/etc/vecshift/vecshift.yaml"]
