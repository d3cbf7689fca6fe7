# One image for `seedbed serve` and `seedbed worker`. Builds, deploy hooks
# and functions run inside it, so it carries every program the code runs:
# builders.Programs, targets/local.Programs, sandbox.Programs and
# gitremote.Programs list them, and deploy/image_test.go holds this file to
# those lists. go comes with the base image; Debian trixie's nodejs is
# Node.js 20, what builders.NodeTarget writes bundles for; python3-pip
# serves `python3 -m pip install --target`; bubblewrap and passt (pasta)
# confine builds and functions; tini reaps the orphans functions leave.
FROM golang:1.26-trixie AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -o /out/seedbed ./cmd/seedbed

FROM golang:1.26-trixie
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates git nodejs npm python3 python3-pip bubblewrap passt tini \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/seedbed /usr/local/bin/seedbed
ENV SEEDBED_DATA_DIR=/data
VOLUME /data
EXPOSE 8080 8081
ENTRYPOINT ["tini", "--", "seedbed"]
CMD ["serve", "--addr", "0.0.0.0:8080", "--gateway-addr", "0.0.0.0:8081"]
