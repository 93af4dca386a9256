# fdl-cloudauth sidecar image (SPEC section 10): small, non-root, production
# dependencies only. Build from the repository root:
#
#   docker build -t fdl-cloudauth:0.2.0 .
#   docker run --rm fdl-cloudauth:0.2.0 --help
#
# Node.js 24, the active LTS line (package.json "engines", README "Supported
# runtimes"). Keep the two FROM lines on the same exact node:X.Y.Z-bookworm-slim tag;
# docs/operations.md "Deploy the sidecar" says how release builds pin the digest.
#
# Checked twice: test/deploy/dockerfile.process.test.ts reads this file against
# package.json, the config schema and the Lua scripts the code loads, and
# test/deploy/image.process.test.ts builds it unchanged with buildah (on a stand-in for
# the base image: no image registry is reachable in CI) and runs the image: --help, the
# daemon against Redis and the reference server, the HEALTHCHECK, its user, state
# directories, dependencies and Lua scripts (docs/operations.md, "The image, built in CI").
#
# Supply chain: every dependency is installed in the build stage with install scripts
# off (no package runs code at install time), and the runtime stage has no npm at all:
# it receives the compiled program and its production node_modules, nothing else.

# ---- build: compile the TypeScript with the dev dependencies ------------------------
FROM node:24.22.3-bookworm-slim AS build
WORKDIR /src
# The lock file alone first, so the dependency layer is reused while only code changes.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY daemon ./daemon
COPY shared ./shared
RUN npm run build
# `npm pack` ships exactly what package.json "files" lists: dist/ and every Lua script
# under daemon/ and shared/ (the code reads them at run time relative to the package
# root, see shared/package-root.ts). The image and the npm package cannot drift apart.
# The package root is the directory holding package.json and shared/, so shared/
# must exist even while no Lua script lives under it.
RUN npm pack --ignore-scripts --pack-destination /tmp --silent \
 && mkdir /pkg \
 && tar -xzf /tmp/fdl-cloudauth-*.tgz -C /pkg --strip-components=1 \
 && mkdir -p /pkg/shared
# The production dependencies, from the lock file, still without install scripts.
COPY package-lock.json /pkg/
RUN cd /pkg \
 && npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && rm package-lock.json

# ---- runtime ---------------------------------------------------------------------
FROM node:24.22.3-bookworm-slim
ENV NODE_ENV=production \
    CLOUDAUTH_HTTP_PORT=9464 \
    CLOUDAUTH_KEY_DIR=/var/lib/fdl-cloudauth/keys \
    CLOUDAUTH_JOURNAL_DIR=/var/lib/fdl-cloudauth/journal
WORKDIR /app
COPY --from=build /pkg/ ./
# npm, npx, corepack and yarn leave the image: nothing at run time installs packages,
# and a package manager is a tool an intruder would use.
# A fixed numeric UID, so Kubernetes' runAsNonRoot can verify it and volumes can be
# prepared for it (fsGroup 10001, chown 10001 on a host directory). The state
# directories are created 0700 for that user: a named volume mounted on them starts
# with this owner and mode.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack /opt/yarn-* \
    /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /usr/local/bin/yarn /usr/local/bin/yarnpkg /root/.npm \
 && groupadd --system --gid 10001 fdl-cloudauth \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/fdl-cloudauth --no-create-home --shell /usr/sbin/nologin fdl-cloudauth \
 && install -d -o 10001 -g 10001 -m 0700 /var/lib/fdl-cloudauth /var/lib/fdl-cloudauth/keys /var/lib/fdl-cloudauth/journal
USER 10001:10001
EXPOSE 9464
# node handles SIGTERM itself (graceful stop: the running attempt finishes, up to 10 s,
# and the results are recorded or journaled); it spawns no children, so running as
# PID 1 without an init leaves no zombies to reap.
STOPSIGNAL SIGTERM
# The slim image has no curl: the probe script asks /healthz (process alive; readiness is
# /readyz, which is down while Redis is) on 127.0.0.1 — over HTTPS when
# CLOUDAUTH_WEB_CONFIG_FILE is set, plain HTTP otherwise — and needs no password or
# client certificate: the sidecar answers its probes without them (docs/security.md).
# Assumes http.host listens on 127.0.0.1 too, as the default 0.0.0.0 does.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "dist/daemon/http/health-probe.js", "/healthz"]
ENTRYPOINT ["node", "dist/daemon/cli/main.js"]
CMD ["daemon"]
