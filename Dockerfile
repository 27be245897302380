# syntax=docker/dockerfile:1
# One image for every actor: `docker run havok:local <actor> --config FILE` (see docs/deployment.md).
#   docker build -t havok:local .

# ---- build: compile TypeScript to dist/ ---------------------------------------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the `prepare` script runs tsc, and the sources are not in the image yet.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY cli ./cli
COPY services ./services
COPY shared ./shared
RUN npm run build

# ---- production: runtime dependencies, compiled code, launcher and the bundled examples --------
FROM node:20-bookworm-slim
ENV NODE_ENV=production
# Heap sized for an actor's bounded working set (see services/local/local.ts actorNodeFlags).
ENV NODE_OPTIONS="--max-semi-space-size=4 --max-old-space-size=192"
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: skip `prepare` (no tsc here); msgpackr's native helper comes prebuilt through
# its optional per-platform package, and msgpackr falls back to plain JS without it.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY examples ./examples
# Places the non-root user may write reports to: /reports (compose mounts ./reports there) and
# /app/reports (examples/demo.toml writes ../reports/demo-report.json).
RUN mkdir -p /reports /app/reports && chown node:node /reports /app/reports
USER node
ENTRYPOINT ["node", "/app/bin/havok.js"]
CMD ["--help"]
