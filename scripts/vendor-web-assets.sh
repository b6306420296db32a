#!/usr/bin/env bash
# Re-vendor pinned browser assets from the npm registry; the output is committed,
# so builds and CI never need npm. Usage: scripts/vendor-web-assets.sh [DEST_DIR]
set -euo pipefail
dest=${1:-crates/vdc-server/web/vendor}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mkdir -p "$dest"
take() { # <pkg@version> <file inside package/> <output name>
  local pkgdir="$work/${1//[@\/]/_}"
  if [ ! -d "$pkgdir" ]; then
    mkdir -p "$pkgdir"
    (cd "$pkgdir" && npm pack --silent "$1" >/dev/null 2>&1 && tar xzf ./*.tgz)  # npm checks dist.integrity
  fi
  cp "$pkgdir/package/$2" "$dest/$3"
  local lic; lic=$(ls "$pkgdir"/package/LICENSE* 2>/dev/null | head -n1 || true)
  [ -n "$lic" ] && cp "$lic" "$dest/${1%@*}.LICENSE"
  return 0
}
take htmx.org@2.0.11 dist/htmx.min.js       htmx.min.js
take uplot@1.6.32    dist/uPlot.iife.min.js uPlot.iife.min.js
take uplot@1.6.32    dist/uPlot.min.css     uPlot.min.css
(cd "$dest" && sha256sum ./*.js ./*.css > SHA256SUMS)
cat "$dest/SHA256SUMS"
