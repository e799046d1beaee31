# The service image: built and run on node:24-slim, serving as the unprivileged `node` user.

# Build: every dependency, compile TypeScript to dist/, then drop the development dependencies.
FROM node:24-slim AS build
ENV NPM_CONFIG_UPDATE_NOTIFIER=false
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/copy-assets.mjs scripts/
COPY src src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# Run: production dependencies and dist/ only, owned by root so the service cannot change its own code.
FROM node:24-slim
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8080
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
USER node
EXPOSE 8080
# slim has no curl: ask /healthz with node's own fetch.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node is PID 1: the service handles SIGTERM and SIGINT itself and starts no child processes to reap.
CMD ["node", "dist/server.js"]
