import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import pytest

from openparts.engine.data import training_loader


def start_methods() -> tuple[str, str | None]:
    """The process default and the training loader's worker start method, where this runs."""
    loader = training_loader(list(range(4)), batch_size=2, seed=0, start_step=0, num_workers=2)
    context = loader.multiprocessing_context
    return multiprocessing.get_start_method(), context.get_start_method() if context else None


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="the platform has no fork")
def test_workers_fork_even_in_a_process_started_by_spawn() -> None:
    """bench-quality --parallel trains in spawned processes, whose default is spawn: spawned
    workers re-import everything and took over a minute to deliver the first batch."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        default, workers = pool.submit(start_methods).result()
    assert (default, workers) == ("spawn", "fork")


def test_no_workers_no_context() -> None:
    assert training_loader(list(range(4)), batch_size=2, seed=0, start_step=0, num_workers=0).multiprocessing_context is None
