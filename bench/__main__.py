"""`python -m bench [throughput|...]` — see README, "Benchmarks"."""

from __future__ import annotations

import sys


def main() -> None:
    name = sys.argv[1] if len(sys.argv) > 1 else "throughput"
    args = [int(a) for a in sys.argv[2:]]
    if name == "throughput":
        from bench.throughput import run
    else:
        raise SystemExit(f"unknown benchmark {name!r}; have: throughput")
    run(*args)


if __name__ == "__main__":
    main()
