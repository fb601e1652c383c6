# qvl container image (docs/deploy.md "The container").
#
#   docker build -t qvl .            (or: podman build -t qvl .)
#   docker run -p 8080:8080 -v /path/to/Qwen3-VL-2B-Instruct:/models:ro -v qvl-cache:/var/lib/qvl/cache qvl
#
# Two stages on Debian 12: the build stage has the compilers and -dev
# packages and runs `make install`; the runtime stage has only the shared
# libraries, Tesseract's English and Chinese data and curl (for the health
# check). qvl runs as an unprivileged user; the model is a read-only volume
# at /models and the quantized weights are kept on the /var/lib/qvl/cache
# volume, so only the first start of a bf16 model pays for quantizing it.
# Every `qvl serve` option can be set with its QVL_* variable (-e QVL_PARALLEL=2).
# The binary picks its SIMD kernels at run time: the image runs on any x86-64.
ARG BASE=debian:12-slim

FROM ${BASE} AS build
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        build-essential pkg-config \
        libjansson-dev libutf8proc-dev libmicrohttpd-dev libjpeg62-turbo-dev libpng-dev libwebp-dev \
        nettle-dev libheif-dev libtiff-dev libgif-dev libtesseract-dev libleptonica-dev libopenblas-dev \
        libpoppler-glib-dev libcairo2-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY tools tools
COPY data data
COPY web web
COPY deploy deploy
COPY scripts/cluster.sh scripts/cluster.sh
COPY src src
RUN make -j"$(nproc)" install PREFIX=/usr/local DESTDIR=/out

FROM ${BASE}
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        libjansson4 libutf8proc2 libmicrohttpd12 libjpeg62-turbo libpng16-16 libwebp7 libnettle8 \
        libheif1 libtiff6 libgif7 libtesseract5 liblept5 libopenblas0-pthread libpoppler-glib8 libcairo2 \
        tesseract-ocr-eng tesseract-ocr-chi-sim curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 10001 --user-group --home-dir /var/lib/qvl --create-home --shell /usr/sbin/nologin qvl \
    && mkdir -p /models /var/lib/qvl/cache && chown qvl:qvl /var/lib/qvl/cache
COPY --from=build /out/usr/local /usr/local
USER qvl
WORKDIR /var/lib/qvl
ENV QVL_MODEL=/models QVL_CACHE_DIR=/var/lib/qvl/cache QVL_HOST=0.0.0.0 QVL_PORT=8080
VOLUME ["/models", "/var/lib/qvl/cache"]
EXPOSE 8080
# Healthy once the model is loaded (/health says "loading" with 503 before);
# the first start of a bf16 model quantizes it, hence the long start period.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10m --retries=3 \
    CMD curl -sf -o /dev/null "http://127.0.0.1:${QVL_PORT}/health" || exit 1
ENTRYPOINT ["qvl"]
CMD ["serve"]
