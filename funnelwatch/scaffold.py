"""`funnelwatch init`: a project folder with commented examples that validate as written."""

from __future__ import annotations

from pathlib import Path

from .config_schema import schema_line, write_project_schemas

SETTINGS = schema_line("config") + """\
# funnelwatch settings. Every key is optional; the README lists them all with defaults.
database: data/history.db         # SQLite history (emails, tokens): keep it out of the published reports/
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
# heartbeat: ${FUNNELWATCH_HEARTBEAT_URL}      # pinged after every complete run; {status} is up or down
# heartbeat_fail: ${FUNNELWATCH_HEARTBEAT_FAIL_URL}   # pinged instead when funnelwatch could not do its job

# Deploy nights: checks still run, alerts wait (and the uptime does not count them).
# maintenance:
#   - Sun 01:00-03:00 Europe/Berlin

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


ENV_EXAMPLE = """\
# Copy to .env (next to config/) and fill in. funnelwatch reads .env itself, so cron and
# systemd (which start with an empty environment) see these too; a variable already set
# in the environment wins. .env holds secrets: it is in .gitignore, never commit it.
FUNNELWATCH_IMAP_USER=qa@example.com
FUNNELWATCH_IMAP_PASSWORD=
FUNNELWATCH_ALERT_URL=
FUNNELWATCH_HEARTBEAT_URL=
"""

#: What a project keeps out of git: its secrets and its history (received emails, tokens).
GITIGNORE = (".env", "data/")


def scaffold(directory: Path) -> list[str]:
    """Write config/funnelwatch.yaml, checks/example.yaml and .env.example unless they exist, the JSON
    Schemas their `# yaml-language-server` lines name, and make .gitignore name .env and the history;
    say what happened."""
    said = []
    for relative, content in (("config/funnelwatch.yaml", SETTINGS), ("checks/example.yaml", EXAMPLE_CHECK),
                              (".env.example", ENV_EXAMPLE)):
        path = directory / relative
        if path.exists():
            said.append(f"kept {path} (already exists)")
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        said.append(f"wrote {path}")
    for path in write_project_schemas(directory):  # always fresh: they follow the installed funnelwatch
        said.append(f"wrote {path} (editor completion; `funnelwatch schema` prints it)")
    said.append(_gitignore(directory / ".gitignore"))
    (directory / "reports").mkdir(exist_ok=True)
    said.append(f"next: edit {directory / 'checks'}/*.yaml, then run `funnelwatch validate` and `funnelwatch run`")
    return said


def _gitignore(path: Path) -> str:
    """Add the lines of GITIGNORE that `path` lacks (keeping what is there)."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    have = {line.strip() for line in text.splitlines()}
    missing = [line for line in GITIGNORE if line not in have and line.rstrip("/") not in have]
    if not missing:
        return f"kept {path} (already ignores {', '.join(GITIGNORE)})"
    prefix = "" if not text or text.endswith("\n") else "\n"
    path.write_text(text + prefix + "# funnelwatch: secrets and history\n" + "\n".join(missing) + "\n",
                    encoding="utf-8")
    return f"{'updated' if text else 'wrote'} {path} (ignores {', '.join(missing)})"
