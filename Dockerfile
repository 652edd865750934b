# Registry API and workers. Node 24 runs the TypeScript sources directly (type stripping).

# The web console is built with the dev dependencies (Vite, React) in a stage of its own, so the
# image that runs carries only the built files and the production dependencies.
FROM node:24-slim AS console
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY console ./console
RUN npm run build

FROM node:24-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY sql ./sql
COPY src ./src
COPY --from=console /app/console/dist ./console/dist
USER node
EXPOSE 3000
CMD ["node", "src/main.ts"]
