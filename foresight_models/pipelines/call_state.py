"""Per-call state of a pipeline call, readable as diffusers-style properties from the calling thread.

diffusers pipelines expose ``guidance_scale``, ``do_classifier_free_guidance``, ``num_timesteps``,
``interrupt``, ``current_timestep`` and ``attention_kwargs`` as attributes that the running call
sets and a ``callback_on_step_end`` reads (and ``interrupt`` is set by a callback to stop early).
A ``ForesightPipeline`` may run several calls at once from several threads, so these values are
kept per thread: each call stores a :class:`CallState` in a ``threading.local`` of its pipeline,
and the properties of :class:`CallStateMixin` read the calling thread's. A call run by
:meth:`ForesightPipeline.stream` runs (and calls its callback) in the stream's worker thread, so
the properties read from the callback see that call. After a call the thread keeps its last state
(``num_timesteps`` of the last call, as in diffusers); a thread that has not run a call reads the
defaults (``None``, ``False``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CallState", "CallStateMixin", "StepEnd"]


@dataclass
class CallState:
    """What one call exposes: its guidance scale and attention kwargs, the inner diffusers pipeline that
    denoises (its timesteps), and the interrupt flag."""

    guidance_scale: float | None = None
    attention_kwargs: dict[str, Any] | None = None
    interrupt: bool = False
    inner: Any = field(default=None, repr=False)


class CallStateMixin:
    """Diffusers' call properties, read from the calling thread's :class:`CallState`."""

    def _call_states(self) -> threading.local:
        states = self.__dict__.get("_call_state_local")
        if states is None:  # created lazily: diffusers builds pipelines without running our __init__ first
            states = self.__dict__.setdefault("_call_state_local", threading.local())
        return states

    @property
    def call_state(self) -> CallState:
        """The calling thread's state of its current (or last) call."""
        states = self._call_states()
        if not hasattr(states, "state"):
            states.state = CallState()
        return states.state

    def begin_call(self, **values: Any) -> CallState:
        """Start a call's state on this thread (the previous call's is replaced)."""
        state = CallState(**values)
        self._call_states().state = state
        return state

    @property
    def guidance_scale(self) -> float | None:
        return self.call_state.guidance_scale

    @property
    def do_classifier_free_guidance(self) -> bool:
        scale = self.call_state.guidance_scale
        return scale is not None and scale > 1.0

    @property
    def attention_kwargs(self) -> dict[str, Any] | None:
        return self.call_state.attention_kwargs

    @property
    def num_timesteps(self) -> int | None:
        return getattr(self.call_state.inner, "_num_timesteps", None)

    @property
    def current_timestep(self) -> Any:
        return getattr(self.call_state.inner, "_current_timestep", None)

    @property
    def interrupt(self) -> bool:
        """Set to ``True`` (e.g. from ``callback_on_step_end``) to skip the remaining denoising steps of this
        thread's running call; the latents reached so far are decoded."""
        return self.call_state.interrupt

    @interrupt.setter
    def interrupt(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise TypeError(f"interrupt: expected True or False, got {value!r}")
        state = self.call_state
        state.interrupt = value
        if state.inner is not None:
            state.inner._interrupt = value

    # diffusers' own callbacks and tests set the private name
    _interrupt = interrupt


class StepEnd:
    """The step callback given to the inner diffusers pipeline.

    It calls the user's callback with the *outer* pipeline (the one the user holds) and the tensors it
    asked for, applies what the callback returns, forwards an ``interrupt`` the callback set, then runs
    ``after(step, latents)`` (the finiteness check and the progress event).
    """

    def __init__(
        self,
        outer: Any,
        callback: Callable[..., dict] | None,
        requested: list[str],
        after: Callable[[int, Any], None],
    ):
        self.outer, self.callback, self.requested, self.after = outer, callback, requested, after

    def __call__(self, inner, step: int, timestep, tensors: dict) -> dict:
        state = self.outer.call_state
        state.inner = inner
        returned = None
        if self.callback is not None:
            returned = self.callback(self.outer, step, timestep, {name: tensors[name] for name in self.requested})
        returned = returned if returned is not None else {}
        if state.interrupt:
            inner._interrupt = True
        self.after(step, returned.get("latents", tensors["latents"]))
        return returned
