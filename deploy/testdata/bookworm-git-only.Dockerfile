# One image for `seedbed serve` and `seedbed worker`. It carries git and the
# Go toolchain because builds run inside it (the go runtime compiles there).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -o /out/seedbed ./cmd/seedbed

FROM golang:1.26-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends git ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/seedbed /usr/local/bin/seedbed
ENV SEEDBED_DATA_DIR=/data
VOLUME /data
EXPOSE 8080 8081
ENTRYPOINT ["seedbed"]
CMD ["serve", "--addr", "0.0.0.0:8080", "--gateway-addr", "0.0.0.0:8081"]
