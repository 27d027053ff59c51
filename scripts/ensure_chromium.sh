#!/usr/bin/env bash
# Installs Debian's chromium for the browser test when it is missing and we may use apt (root).
# Never fails the build: without chromium the browser test is skipped and says so.
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian chromium for the browser test..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "chromium could not be installed; the browser test will be skipped."
else
  echo "chromium not found and apt-get unavailable (not root); the browser test will be skipped."
fi
exit 0
