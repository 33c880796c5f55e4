# One image for every app: the command picks api, worker or the cli (see docker-compose.yml):
#   node dist/apps/api/main.js
#   node --max-old-space-size=256 --max-semi-space-size=16 dist/apps/worker/main.js
#   node dist/apps/cli/main.js migrate
# Node 24 LTS (CI tests on it and on Node 20.19+, the oldest that works: the Nest 12 packages are ESM-only
# and the bundles require() them). Both stages use the same image; to build on another Node:
#   docker build --build-arg NODE_IMAGE=node:20-bookworm-slim .
ARG NODE_IMAGE=node:24-bookworm-slim

# Stage 1: install everything (dev dependencies too), build the three apps, then drop the dev dependencies.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Not `npm ci`: the lockfile cannot list every platform's optional binaries (see README).
RUN npm install --no-audit --no-fund --ignore-scripts
COPY . .
RUN npm run build && npm prune --omit=dev --no-audit --no-fund --ignore-scripts

# Stage 2: the runtime: production dependencies and dist/ only, owned by root, run as the unprivileged
# `node` user (uid 1000) of the official image. The apps write nothing to disk (bulk files live in PostgreSQL).
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER node
# API_PORT and WORKER_PORT (their defaults).
EXPOSE 3000 3001
# Exec form: node is PID 1 and gets SIGTERM itself (both apps drain within SHUTDOWN_TIMEOUT_MS, then exit).
STOPSIGNAL SIGTERM
CMD ["node", "dist/apps/api/main.js"]
