# syntax=docker/dockerfile:1
# Production image: Node 24 runs the TypeScript sources as they are (type stripping), as the unprivileged `node` user.

# Stage 1: type-check with the dev dependencies, so an image is never built from sources that do not check.
FROM node:24-slim AS check
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY src/ ./src/
RUN npx tsc --noEmit -p tsconfig.json

# Stage 2: the runtime, production dependencies only (none has install scripts or native parts).
FROM node:24-slim
# The heap cap keeps a busy process under ~300 MB RSS (V8 otherwise grows the heap lazily to ~250 MB before a
# full collection; live data is 30-50 MB). `npm run bench` runs the service with the same option.
ENV HOST=0.0.0.0 NODE_ENV=production NODE_OPTIONS=--max-old-space-size=192
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts && npm cache clean --force
# Root-owned and read-only for the service; only data/ (the default SQLite location) is writable.
COPY --from=check /app/src ./src
RUN mkdir -p data && chown node:node data
USER node
EXPOSE 3000
# Slim images have no curl: Node's own fetch asks the readiness route (503 while draining or the store is away).
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "src/server.ts"]
