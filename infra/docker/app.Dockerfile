# Builds one app of the monorepo into a small runtime image:
#   docker build -f infra/docker/app.Dockerfile --build-arg APP=aggregator -t stream-analytics/aggregator .
# The builder stage compiles the native Kafka client (librdkafka) against the
# same Debian libraries the runtime stage installs.
ARG NODE_IMAGE=node:22-bookworm-slim

FROM ${NODE_IMAGE} AS builder
ARG APP
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ zlib1g-dev libssl-dev libzstd-dev liblz4-dev libsasl2-dev libcurl4-openssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
ENV CKJS_LINKING=dynamic
RUN npm ci --no-audit --no-fund
COPY . .
RUN npx nx build ${APP} --skip-nx-cache \
 && cd dist/apps/${APP} \
 && npm install --omit=dev --no-audit --no-fund --no-package-lock

FROM ${NODE_IMAGE}
ARG APP
RUN apt-get update \
 && apt-get install -y --no-install-recommends zlib1g libssl3 libzstd1 liblz4-1 libsasl2-2 libcurl4 tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=builder /src/dist/apps/${APP} ./
COPY --from=builder /src/clickhouse/init ./clickhouse/init
ENV NODE_ENV=production
USER node
ENTRYPOINT ["/usr/bin/tini", "--", "node", "main.js"]
