import gc
from collections.abc import Iterator

import pytest

from dunpai.core.bulk import BULK_THRESHOLDS, bulk_gc


@pytest.fixture
def nothing_frozen() -> Iterator[None]:
    """No object frozen when the test starts (an earlier test in this process may have frozen some, as
    ``dunpai serve`` does); frozen again afterwards if they were."""
    frozen = gc.get_freeze_count() > 0
    gc.unfreeze()
    yield
    if frozen:
        gc.freeze()


def test_bulk_gc_freezes_what_lives_and_restores_the_collector(nothing_frozen: None) -> None:
    before = gc.get_threshold()
    kept = [[i] for i in range(1000)]  # tracked objects alive when the bulk loop starts
    with bulk_gc():
        assert gc.get_threshold() == BULK_THRESHOLDS
        assert gc.get_freeze_count() >= len(kept)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_bulk_gc_restores_the_collector_when_the_loop_fails(nothing_frozen: None) -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), bulk_gc():
        raise RuntimeError("a bad batch")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_bulk_gc_leaves_an_earlier_freeze_in_place(nothing_frozen: None) -> None:
    gc.freeze()  # as ``dunpai serve`` does with its start-up objects
    try:
        frozen = gc.get_freeze_count()
        with bulk_gc():
            pass
        assert gc.get_freeze_count() >= frozen
    finally:
        gc.unfreeze()
