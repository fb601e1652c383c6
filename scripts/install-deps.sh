#!/bin/bash
# Installs the Debian 12 packages qvl needs to build, test and run. Idempotent:
# skips apt-get entirely when everything is already there.
set -euo pipefail
PKGS="build-essential pkg-config bc curl
      libjansson-dev libutf8proc-dev libmicrohttpd-dev
      libjpeg62-turbo-dev libpng-dev libwebp-dev libexif-dev nettle-dev
      libheif-dev libtiff-dev libgif-dev
      libtesseract-dev libleptonica-dev tesseract-ocr-eng tesseract-ocr-chi-sim tesseract-ocr-chi-tra
      libpoppler-glib-dev libcairo2-dev
      libopenblas-dev clang libclang-rt-14-dev
      imagemagick fonts-noto-cjk fonts-dejavu-core python3 python3-cairo chromium
      nginx"
# Node.js may come from elsewhere (e.g. NodeSource, which bundles npm and
# conflicts with Debian's npm package): install Debian's only when missing.
command -v node >/dev/null || PKGS="$PKGS nodejs"
command -v npm >/dev/null || PKGS="$PKGS npm"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $missing
fi
