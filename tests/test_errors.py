"""Every Friendli error survives pickle and copy (they cross processes and thread pools)."""

from __future__ import annotations

import copy
import importlib
import inspect
import pickle


def test_every_error_class_pickles_and_copies(pack):
    errors = importlib.import_module(pack.__name__ + ".client.errors")
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, errors.FriendliError)]
    samples = {
        errors.FriendliInputError: errors.FriendliInputError("seed", "is not a whole number"),
        errors.FriendliNetworkError: errors.FriendliNetworkError("could not reach x (dns)", kind="dns"),
        errors.FriendliValidationError: errors.FriendliValidationError("422", details=[{"loc": ["body"], "msg": "m"}]),
        errors.FriendliBatchError: errors.FriendliBatchError(2, 5, errors.FriendliServerError("boom", status=503)),
    }
    assert len(classes) >= 15
    for cls in classes:
        error = samples.get(cls) or cls("what went wrong", status=418)
        for clone in (pickle.loads(pickle.dumps(error)), copy.copy(error), copy.deepcopy(error)):
            assert type(clone) is cls and str(clone) == str(error)
            assert state(clone) == state(error)  # every attribute, by value
            assert clone.status == error.status
    batch = pickle.loads(pickle.dumps(samples[errors.FriendliBatchError]))
    assert (batch.index, batch.total, str(batch.cause), batch.status) == (2, 5, "boom", 503)
    assert pickle.loads(pickle.dumps(samples[errors.FriendliInputError])).field == "seed"
    assert pickle.loads(pickle.dumps(samples[errors.FriendliNetworkError])).kind == "dns"


def state(error) -> dict:
    """An error's attributes, comparable by value (exceptions in them compare by type and message)."""
    return {k: repr(v) for k, v in vars(error).items()}
