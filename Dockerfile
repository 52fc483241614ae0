# A small image: a static ghlbulk (CGO off: the SQLite driver is pure Go)
# on distroless/static, run as its non-root user (uid 65532).
#   docker build --build-arg VERSION=$(git describe --tags --always) -t ghlbulk .
#   docker run --rm -e GHL_TOKEN -e GHL_LOCATION_ID -v "$PWD:/data" ghlbulk import contacts.csv --mapping m.yaml
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/ghlbulk ./cmd/ghlbulk

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ghlbulk /usr/local/bin/ghlbulk
# Input, state, rejects and export files live in the mounted folder.
WORKDIR /data
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/ghlbulk"]
CMD ["--help"]
