# syntax=docker/dockerfile:1
# A static binary on distroless, run as a non-root user; stdio by default:
#   docker run -i --rm -e BITRIX24_WEBHOOK_URL=... bitrix24-chat-mcp
# Build: docker build --build-arg VERSION=$(git describe --tags --always) \
#          --build-arg COMMIT=$(git rev-parse --short HEAD) -t bitrix24-chat-mcp .

FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=none
ARG DATE=unknown
# The same command as `make build` (CI runs that one outside Docker).
RUN make build VERSION="${VERSION}" COMMIT="${COMMIT}" DATE="${DATE}"

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL io.modelcontextprotocol.server.name="io.github.bitrix24-chat-mcp/bitrix24-chat-mcp" \
      org.opencontainers.image.title="bitrix24-chat-mcp" \
      org.opencontainers.image.description="MCP server: see and change who is in a Bitrix24 chat" \
      org.opencontainers.image.source="https://github.com/bitrix24-chat-mcp/bitrix24-chat-mcp" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /src/bin/bitrix24-chat-mcp /usr/local/bin/bitrix24-chat-mcp
USER 65532:65532
# For --transport http|sse inside a container, listen on all interfaces and
# set MCP_AUTH_TOKEN: MCP_ADDR=0.0.0.0:8080 (the server refuses otherwise).
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/bitrix24-chat-mcp"]
