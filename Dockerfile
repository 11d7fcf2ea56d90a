# syntax=docker/dockerfile:1
# Multi-stage build: a static pollhook binary on a distroless, non-root base.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/pollhook ./cmd/pollhook \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/pollhook /usr/local/bin/pollhook
# The store lives in /data (store.path: /data); mount a volume there so
# snapshots and queued webhooks survive the container.
COPY --from=build --chown=65532:65532 /out/data /data
VOLUME ["/data"]
# The default store.path is ./data: from / that is the volume.
WORKDIR /
USER 65532:65532
EXPOSE 8080
# The image has no curl: pollhook checks itself. Adjust the port if
# server.listen is not :8080.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/pollhook", "health", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["/usr/local/bin/pollhook"]
CMD ["run", "--config", "/etc/pollhook/pollhook.yaml"]
