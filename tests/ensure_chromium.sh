#!/usr/bin/env bash
# Browser tests drive Debian's chromium. Install it when missing and we may (root);
# otherwise say so: the browser tests then skip locally, and fail under CI=true.
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's chromium for the browser tests…"
  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) >/dev/null 2>&1 \
    || echo "warning: could not install chromium; browser tests will not run" >&2
else
  echo "note: chromium is not installed (sudo apt-get install chromium); browser tests will be skipped" >&2
fi
exit 0
