"""Fixtures shared by the test modules."""
import pytest
import torch


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models run fastest on one thread; a second one only adds synchronisation (and stalls
    badly on a loaded machine). Restores the previous setting afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def trust_course_references(request):
    """The checkers' tests use the package's own reference as the answer, which an exercise
    forbids (rnnbook.exercises._guard); they run trusted unless the module sets
    ENFORCE_NO_SHORTCUTS = True (tests/test_no_shortcuts.py). The clean room never trusts."""
    if getattr(request.module, "ENFORCE_NO_SHORTCUTS", False):
        yield
        return
    from rnnbook.exercises import trusted

    with trusted():
        yield
