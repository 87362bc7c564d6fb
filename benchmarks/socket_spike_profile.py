"""Where the time goes in a py-spy raw profile (``py-spy record -f raw``): ADR 008's spike.

Prints the share of samples by leaf function ("self") and by function anywhere on the
stack ("inclusive"), idle samples excluded unless ``--idle``.

    .venv/bin/python benchmarks/socket_spike_profile.py /tmp/spike/prof/server-*.txt --top 25
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]+)(?::\d+)?\)$")


def short(frame: str) -> str:
    """``func (path/to/pkg/mod.py:12)`` -> ``pkg/mod.py:func``."""
    m = FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    parts = Path(m.group("file")).parts
    return f"{'/'.join(parts[-2:])}:{m.group('func')}"


def summarise(path: Path, top: int, idle: bool) -> str:
    self_counts: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [short(f) for f in stack.split(";") if f and not f.startswith("process ")
                  and not f.startswith("thread ")]
        if not frames:
            continue
        leaf = frames[-1]
        if not idle and any(k in leaf for k in ("select", "poll", "wait", "_recv_into", "sleep", "acquire")):
            continue
        n = int(count)
        total += n
        self_counts[leaf] += n
        for f in set(frames):
            incl[f] += n
    out = [f"== {path.name}: {total} busy samples"]
    out.append("-- self")
    out += [f"{100 * n / max(total, 1):5.1f}%  {f}" for f, n in self_counts.most_common(top)]
    out.append("-- inclusive")
    out += [f"{100 * n / max(total, 1):5.1f}%  {f}" for f, n in incl.most_common(top)]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--idle", action="store_true", help="keep samples whose leaf waits (select, poll, sleep)")
    args = parser.parse_args(argv)
    for path in args.files:
        print(summarise(path, args.top, args.idle))
    return 0


if __name__ == "__main__":
    sys.exit(main())
