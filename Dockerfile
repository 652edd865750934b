# Registry API and workers. Node 24 runs the TypeScript sources directly (type stripping).
FROM node:24-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY sql ./sql
COPY src ./src
USER node
EXPOSE 3000
CMD ["node", "src/main.ts"]
