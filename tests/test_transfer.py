"""scripts/transfer.py: the exact permutation p-value of Spearman's rho, by hand."""
import importlib.util
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location("transfer", Path(__file__).parent.parent / "scripts" / "transfer.py")
transfer = importlib.util.module_from_spec(spec)
spec.loader.exec_module(transfer)


def test_exact_p_counts_the_orderings_at_least_as_extreme():
    # 4 methods in the same order: only the identity and the reversal reach |rho| = 1, so p = 2 / 4! = 1/12
    assert transfer.exact_p([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(2 / 24)
    x, y = [1, 2, 3, 4], [1, 2, 4, 3]
    p = transfer.exact_p(x, y)
    # |rho| = 0.8: rho(1,2,4,3) = 1 - 6*2/(4*15) = 0.8; orderings with |rho| >= 0.8: sum d^2 <= 2 or >= 18,
    # i.e. the identity and the 3 adjacent swaps, and their 4 reversals: 8 of 24
    assert p == pytest.approx(8 / 24)
    assert transfer.exact_p(list(range(9)), list(range(9))) is None   # too many orderings
    assert transfer.exact_p([1, 1, 1], [1, 2, 3]) is None              # a constant side: no correlation
