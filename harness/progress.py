"""Progress bars that stay readable in logs: redrawn at most every few seconds when not on a terminal.
In a run launched on several processes only rank 0 speaks (harness/distributed.py)."""
import sys

from tqdm import tqdm


def bar(total: int, desc: str, enabled: bool = True) -> tqdm:
    tty = sys.stderr.isatty()
    return tqdm(total=total, desc=desc, disable=not enabled, leave=tty, mininterval=0.2 if tty else 10.0,
                dynamic_ncols=True)


def say(msg: str) -> None:
    """A one-line status message on stderr (kept in logs, unlike progress bars)."""
    from harness import distributed
    if not distributed.is_main():
        return  # the other processes of a launched run would repeat rank 0's every line
    print(f"[harness] {msg}", file=sys.stderr, flush=True)
