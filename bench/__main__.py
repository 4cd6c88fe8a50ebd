"""`python -m bench [throughput|...]` — see README, "Benchmarks"; figures in docs/benchmarks.md."""

from __future__ import annotations

import sys


def main() -> None:
    name = sys.argv[1] if len(sys.argv) > 1 else "throughput"
    benches = (
        "throughput",
        "dispatch",
        "enroll",
        "scaling",
        "memory",
        "visibility",
        "claim",
        "inbound",
        "pages",
        "editor",
    )
    # inbound and pages take flags (--seconds, --patients, ...); the others take counts.
    args = sys.argv[2:] if name in ("inbound", "pages") else [int(a) for a in sys.argv[2:]]
    if name not in benches:
        raise SystemExit(f"unknown benchmark {name!r}; have: {', '.join(benches)}")
    run = __import__(f"bench.{name}", fromlist=["run"]).run
    run(*args)


if __name__ == "__main__":
    main()
