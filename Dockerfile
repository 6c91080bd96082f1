# funnelwatch on the official Playwright Python image: Chromium, its system libraries and fonts come
# with the base, at the version the pinned playwright package drives (tests/test_container.py holds
# the tag to constraints.txt). Ubuntu 24.04 (noble) brings Python 3.12 (funnelwatch needs 3.11+).
#
#   docker build -t funnelwatch .
#   docker run --rm -v "$PWD:/project" funnelwatch run --shard 1/4
#
# The project (config/, checks/, and data/ + reports/ unless `database:` is PostgreSQL) is mounted at
# /project, writable by uid 1001 (pwuser). Recipes: docs/scale-out.md (`funnelwatch recipe k8s`).
FROM mcr.microsoft.com/playwright/python:v1.65.2-noble

# The image's Python belongs to the distribution (PEP 668); this image is ours alone, so pip may install
# into it. The browsers are the base image's, in /ms-playwright (PLAYWRIGHT_BROWSERS_PATH).
ENV PIP_BREAK_SYSTEM_PACKAGES=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1

WORKDIR /opt/funnelwatch
COPY pyproject.toml constraints.txt README.md LICENSE ./
COPY funnelwatch ./funnelwatch
RUN python3 -m pip install -c constraints.txt . \
    && python3 -m funnelwatch --version

# Not root: Chromium keeps its sandbox while it follows third-party trackers and ads.
RUN mkdir -p /project && chown pwuser:pwuser /project
USER pwuser
WORKDIR /project
ENV FUNNELWATCH_PROJECT=/project

ENTRYPOINT ["funnelwatch"]
CMD ["run"]
