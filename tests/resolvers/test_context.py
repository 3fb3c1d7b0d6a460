"""A request's context is freed as soon as the request lets go of it."""

from __future__ import annotations

import gc
import weakref
from typing import Any, cast

from govshare.core.callers import Caller
from govshare.policies.decisions import PolicyEngine
from govshare.resolvers.context import Context


def test_a_context_and_its_decider_are_freed_without_the_garbage_collector() -> None:
    """No reference cycle through the decider (it once held the context's own bound method): every
    request's state goes when its last reference does, not at the collector's next pass."""
    context = Context(caller=Caller("demo-user@650100-MZ", "650100-MZ", "650100"), pools=cast(Any, None),
                      request_id="r", engine=PolicyEngine.empty("650000"), limiter=cast(Any, None))
    decider = context.decider
    assert context.decider is decider
    gone, decider_gone = weakref.ref(context), weakref.ref(decider)
    gc.disable()
    try:
        del context, decider
        assert gone() is None and decider_gone() is None
    finally:
        gc.enable()
