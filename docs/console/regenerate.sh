#!/usr/bin/env bash
# Regenerate the console screenshots in docs/console/ from the browser tests: they start a
# gateway with some history, drive Debian's headless Chromium through every main page and
# save each page here as well as under the test's own output folder.
set -euo pipefail
cd "$(dirname "$0")/../.."
CREDGATE_CONSOLE_SCREENSHOTS="$PWD/docs/console" .venv/bin/python -m pytest tests/console -q
