"""The SISA figure of docs/results.md (docs/sisa.png): the page's plot of SISA against K, from a results folder.

    python scripts/plot_sisa.py [results] [task] [out.png]     # defaults: results tofu_forget01 docs/sisa.png

It reads only results/runs/ (harness.leaderboard.collect), like the leaderboard itself.
"""
import sys
from pathlib import Path

from harness.leaderboard import aggregate, collect
from harness.plots import pyplot, sisa_figure


def main(argv: list[str]) -> int:
    results = Path(argv[0] if argv else "results")
    task = argv[1] if len(argv) > 1 else "tofu_forget01"
    out = Path(argv[2] if len(argv) > 2 else "docs/sisa.png")
    runs, specs, _, _ = collect(results)
    table = aggregate(runs, specs)
    fig = sisa_figure(table[table["task"] == task], task)
    if fig is None:
        print(f"no SISA rows with two or more K for {task} in {results} (run make forms)", file=sys.stderr)
        return 2
    fig.savefig(out, dpi=130, bbox_inches="tight")
    pyplot().close(fig)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
