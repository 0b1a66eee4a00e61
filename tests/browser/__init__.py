"""Browser tests (Playwright in Debian's Chromium)."""
