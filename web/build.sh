#!/bin/sh
# Build the dashboard frontend into src/neuralscope/server/static (git-ignored).
# Dependencies come from the npm registry, pinned by package-lock.json.
set -eu
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
npm run build
