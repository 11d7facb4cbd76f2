"""``fpt merge SHARDS... --out DIR``: the shards of a run as one checklist, judged and written."""

from __future__ import annotations

import argparse
import sys

EXIT_PASSED, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def merge_command(args: argparse.Namespace) -> int:
    """Read, check and merge the shard files, judge the run, write the reports, print the verdict."""
    from fpt.config.errors import MergeError
    from fpt.config.redact import scrub
    from fpt.report.terminal import checklist_rows, run_summary
    from fpt.shardfile import collect, judge, merge, read

    try:
        merged = merge([read(p) for p in collect(args.paths)])
    except MergeError as e:
        print(scrub(f"fpt merge: REFUSED: {e}"), file=sys.stderr)
        return EXIT_BAD_INPUT
    total = merged.shards[0].shard.total
    print(f"fpt merge: session {merged.session}: {total} shards: "
          + ", ".join(f"{f.shard.label} {f.path}" for f in merged.shards))
    for s in merged.skew:
        print(f"  {s.test}{f' (call {s.call + 1})' if s.call else ''}: start skew {s.seconds:.3f}s across "
              f"shards; {s.overlap_pairs_within_shards} overlapping pairs counted within shards (overlap "
              "across shards is not claimed)")
    try:
        state = judge(merged, args.out)
    except OSError as e:
        print(scrub(f"fpt merge: FAILED: cannot write to {args.out}: {e}"), file=sys.stderr)
        return EXIT_BAD_INPUT
    for r in state.results:
        for line in run_summary(r):
            print(scrub(line))
    checklist = state.checklist
    if checklist is None:
        print("fpt merge: FAILED: no FPT test ran in any shard", file=sys.stderr)
        return EXIT_FAILED
    for line, _ in checklist_rows(checklist):
        print(scrub(line))
    for note in state.notes:
        print(scrub(note))
    print("fpt reports: " + ", ".join(str(p) for p in state.written))
    print(f"fpt merge: {checklist.verdict.upper()} at level {checklist.level} ({total} shards merged)")
    return EXIT_PASSED if checklist.verdict == "passed" else EXIT_FAILED
