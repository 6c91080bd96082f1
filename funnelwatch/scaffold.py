"""`funnelwatch init`: a project folder with commented examples that validate as written."""

from __future__ import annotations

from pathlib import Path

from .config_schema import schema_line, write_project_schemas

SETTINGS = schema_line("config") + """\
# funnelwatch settings. Every key is optional; the README lists them all with defaults.
database: reports/history.db      # SQLite history; created on first run
reports_dir: reports              # open reports/index.html after a run

browser:
  executable: auto                # auto: Playwright's Chromium if installed, else system chromium
  headless: true
  viewports: [desktop]            # desktop | mobile (both allowed)
  timeout: 30s                    # per step
  concurrency: 4                  # browser contexts at once

# Where test emails arrive: one of imap | maildir | smtp.
# inbox:
#   imap:
#     host: imap.example.com
#     port: 993
#     security: ssl                           # ssl | starttls (port 143) | none (local servers only)
#     username: ${FUNNELWATCH_IMAP_USER}       # ${VAR} is read from the environment
#     password: ${FUNNELWATCH_IMAP_PASSWORD}   # never stored, logged or shown
#     folder: INBOX
#     spam_folders: auto                       # junk folders searched too (an email there fails as email_in_spam)
#   address: qa+{token}@example.com            # {token} makes every submission unique
#   trusted_authserv_id: mx.example.com        # optional: whose Authentication-Results (SPF/DKIM/DMARC) count

# How contact: probes (questions to sales@, support@) are sent; replies must reach the inbox above.
# outbox:
#   smtp:
#     host: smtp.example.com
#     port: 587
#     starttls: true                           # or ssl: true (port 465); plain: true only for a relay on this machine
#     username: ${FUNNELWATCH_SMTP_USER}
#     password: ${FUNNELWATCH_SMTP_PASSWORD}   # never stored, logged or shown
#   from: "Funnel Tester <qa+{token}@example.com>"   # the inbox address: every probe gets its own

# alerts:
#   - url: ${FUNNELWATCH_ALERT_URL}            # an Apprise URL: slack://, mailto://, json://, ...
#     on: [broken, recovered, error]
#     remind: 1d

defaults:
  retries: 1                      # re-run a failed check this often before calling it broken
  schedule: daily at 02:00
"""

EXAMPLE_CHECK = schema_line("check") + """\
# One funnel per file. Every section is optional; see the README for all keys.
name: Example — homepage
tags: [example]

landing:
  url: https://example.com/
  must_show: [Example Domain]
  must_not_show: [Page not found]
  max_load: 5s

# ad:
#   url: https://example.com/go/offer?utm_source=google&utm_medium=cpc&gclid=FW-TEST
#   headline: Free HIPAA Compliance Checklist
#   promise: [HIPAA compliance checklist, free]
#   landing_url: https://example.com/lp/offer
#   keep_params: [utm_source, utm_medium, gclid]

# form:
#   fill:
#     email: "{inbox}"
#     company: funnelwatch test - please ignore
#   success:
#     url_contains: /thank-you

# conversions:                    # tags that must fire after the form's success (docs/conversions.md)
#   - ga4: G-ABC123XYZ            # GA4 measurement id; event defaults to generate_lead
#   - google_ads: AW-123456789/AbC-D_efG-hIjk
#   - meta: "1234567890"          # Meta pixel id; event defaults to Lead
"""


def scaffold(directory: Path) -> list[str]:
    """Write config/funnelwatch.yaml and checks/example.yaml unless they exist, and the JSON Schemas their
    `# yaml-language-server` lines name; say what happened."""
    said = []
    for relative, content in (("config/funnelwatch.yaml", SETTINGS), ("checks/example.yaml", EXAMPLE_CHECK)):
        path = directory / relative
        if path.exists():
            said.append(f"kept {path} (already exists)")
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        said.append(f"wrote {path}")
    for path in write_project_schemas(directory):  # always fresh: they follow the installed funnelwatch
        said.append(f"wrote {path} (editor completion; `funnelwatch schema` prints it)")
    (directory / "reports").mkdir(exist_ok=True)
    said.append(f"next: edit {directory / 'checks'}/*.yaml, then run `funnelwatch validate` and `funnelwatch run`")
    return said
