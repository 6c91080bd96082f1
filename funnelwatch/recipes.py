"""`funnelwatch recipe k8s|github-actions`: scale-out recipes printed by a command, so they cannot rot.

funnelwatch grows no cluster of its own: N shards (`run --shard K/N`) run on
the engine a team already operates and share one PostgreSQL history. These
recipes are what docs/scale-out.md shows, generated here and compared with the
docs by tests/test_docs.py and parsed by tests/test_shards.py. systemd's
recipe is `systemd.py`'s template units (it needs the project's schedule).

Both recipes run each shard once a night and never again on a failure: exit 1
(a funnel is broken) is an answer, and a retried shard would send its demo
requests a second time.
"""

from __future__ import annotations

#: What the recipes name as the image: built from the repository's Dockerfile and pushed to your registry.
IMAGE = "registry.example.com/funnelwatch:latest"
#: The Secret (Kubernetes) or repository secrets (GitHub) the passwords come from: env var → Secret key.
SECRETS = {"FUNNELWATCH_DB_PASSWORD": "db-password", "FUNNELWATCH_IMAP_PASSWORD": "imap-password"}


def kubernetes(shards: int, image: str = IMAGE, schedule: str = "0 2 * * *") -> str:
    """A CronJob of an Indexed Job (one pod per shard, `JOB_COMPLETION_INDEX` → `--shards N`), and the report after it."""
    env = "".join(f"""
                - name: {name}
                  valueFrom:
                    secretKeyRef: {{name: funnelwatch, key: {key}}}""" for name, key in SECRETS.items())
    return f"""\
# funnelwatch: {shards} shards a night as a Kubernetes Indexed Job — `funnelwatch recipe k8s --shards {shards}`
# Needs: `database:` a postgresql:// URL (the shards share one history), Kubernetes 1.29+ (backoffLimitPerIndex),
#   kubectl create secret generic funnelwatch --from-literal=db-password=… --from-literal=imap-password=…
#   kubectl create configmap funnelwatch-config --from-file=config/
#   kubectl create configmap funnelwatch-checks --from-file=checks/
apiVersion: batch/v1
kind: CronJob
metadata:
  name: funnelwatch
spec:
  schedule: "{schedule}"
  timeZone: Etc/UTC
  concurrencyPolicy: Forbid  # a night still running is never joined by the next
  startingDeadlineSeconds: 3600
  jobTemplate:
    spec:
      completionMode: Indexed  # pod K-1 gets JOB_COMPLETION_INDEX=K-1: shard K/{shards}
      completions: {shards}
      parallelism: {shards}
      backoffLimitPerIndex: 0  # a shard never runs twice (no second demo request); the others go on
      maxFailedIndexes: {shards}
      activeDeadlineSeconds: 14400
      template:
        spec:
          restartPolicy: Never
          securityContext:
            runAsNonRoot: true
            runAsUser: 1001  # pwuser: Chromium keeps its sandbox
            runAsGroup: 1001
            fsGroup: 1001
          containers:
            - name: funnelwatch
              image: {image}
              args: ["run", "--shards", "{shards}"]
              env:{env}
              resources:
                requests: {{cpu: "1", memory: 1Gi}}
                limits: {{memory: 2Gi}}
              volumeMounts:
                - {{name: config, mountPath: /project/config, readOnly: true}}
                - {{name: checks, mountPath: /project/checks, readOnly: true}}
                - {{name: reports, mountPath: /project/reports}}
                - {{name: shm, mountPath: /dev/shm}}
          volumes:
            - {{name: config, configMap: {{name: funnelwatch-config}}}}
            - {{name: checks, configMap: {{name: funnelwatch-checks}}}}
            - {{name: reports, emptyDir: {{}}}}
            - {{name: shm, emptyDir: {{medium: Memory, sizeLimit: 512Mi}}}}
---
# The report of the whole history, once the shards are done (and, with `shard_alerts: at_report`,
# one alert message per channel for all of them): schedule it after the shards' usual finish.
apiVersion: batch/v1
kind: CronJob
metadata:
  name: funnelwatch-report
spec:
  schedule: "{_later(schedule)}"
  timeZone: Etc/UTC
  concurrencyPolicy: Forbid
  jobTemplate:
    spec:
      backoffLimit: 0
      template:
        spec:
          restartPolicy: Never
          securityContext: {{runAsNonRoot: true, runAsUser: 1001, runAsGroup: 1001, fsGroup: 1001}}
          containers:
            - name: report
              image: {image}
              args: ["report"]
              env:{env}
              volumeMounts:
                - {{name: config, mountPath: /project/config, readOnly: true}}
                - {{name: checks, mountPath: /project/checks, readOnly: true}}
          volumes:
            - {{name: config, configMap: {{name: funnelwatch-config}}}}
            - {{name: checks, configMap: {{name: funnelwatch-checks}}}}
"""


def github_actions(shards: int, image: str = IMAGE, schedule: str = "0 2 * * *") -> str:
    """A workflow whose matrix runs `--shard K/N` per job, then one `report` job after all of them."""
    matrix = ", ".join(str(k) for k in range(1, shards + 1))
    env = "".join(f"\n      {name}: ${{{{ secrets.{name} }}}}" for name in SECRETS)
    return f"""\
# funnelwatch: {shards} shards a night as a GitHub Actions matrix — `funnelwatch recipe github-actions --shards {shards}`
# Save as .github/workflows/funnelwatch.yml in the repository holding config/ and checks/;
# `database:` a postgresql:// URL (the jobs share one history); the passwords are repository secrets.
name: funnelwatch
on:
  schedule:
    - cron: "{schedule}"
  workflow_dispatch:
concurrency:
  group: funnelwatch  # a night still running is never joined by the next
  cancel-in-progress: false
jobs:
  shard:
    runs-on: ubuntu-24.04
    container:
      image: {image}
      options: --user 1001  # pwuser (the runner's uid): Chromium keeps its sandbox
    strategy:
      fail-fast: false  # one shard's broken funnel never stops the others
      matrix:
        shard: [{matrix}]
    env:{env}
    steps:
      - uses: actions/checkout@v4
      - run: funnelwatch run --shard ${{{{ matrix.shard }}}}/{shards} --junit junit-${{{{ matrix.shard }}}}.xml
      - uses: actions/upload-artifact@v4
        if: always()
        with:
          name: junit-${{{{ matrix.shard }}}}
          path: junit-${{{{ matrix.shard }}}}.xml
  report:
    needs: shard
    if: always()
    runs-on: ubuntu-24.04
    container:
      image: {image}
      options: --user 1001
    env:{env}
    steps:
      - uses: actions/checkout@v4
      - run: funnelwatch report
      - uses: actions/upload-artifact@v4
        with:
          name: report
          path: reports/
"""


def _later(schedule: str) -> str:
    """The report's schedule: two hours after the shards' (`0 2 * * *` → `0 4 * * *`), else the same."""
    parts = schedule.split()
    if len(parts) == 5 and parts[1].isdigit():
        parts[1] = str((int(parts[1]) + 2) % 24)
    return " ".join(parts)
