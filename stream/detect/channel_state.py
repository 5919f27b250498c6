"""The saved form of a :class:`~stream.detect.baseline.ChannelModel`: compact, and every
earlier form still restores.

A patient with every custom channel has 23 channel models, and the whole patient must pickle
within 16 KiB, so a model saves (:func:`save`) one tuple:

- ``blob``: one ``bytes`` of the time-of-day profile (single precision, as it is kept), the
  per-context counts, then the double-precision state (per-context level, deviation, time
  last learned and weekday level, :data:`SCALARS`, then the smoothing window): 8 bytes a
  number, with none of the opcodes and headers of a pickled float or array;
- the small integers (:data:`INTS`: pickle writes most in two bytes) and ``settled``;
- the parameters that differ from the defaults, if any, as a dict (a vital's three priors).

The scale cache (``sd_cache``) is not saved: it is the scale of each learned context, recomputed
on load from the state it caches (a context never learned has none: NaN). ``z_on ** 4`` is
likewise derived.

A model whose state holds values that are not floats where floats are kept (a direct caller's
integer readings or times) is saved field by field, as :data:`FIELDS` lists them — the form
of the releases before this one, which :func:`restore` reads together with its older forms
(parameters inline, arrays as array objects, fields added later missing:
:data:`LATER_STATE`). Restoring never changes a value: the same samples score the same after
a restore as without one.

Examples
--------
>>> import pickle
>>> from stream.detect.baseline import ChannelModel
>>> m = ChannelModel(prior_scale=5.0)
>>> for i in range(100):
...     m.learn_one({"value": 70.0 + i % 3, "ts": 60.0 * i})
>>> state = save(m, defaults_of(ChannelModel))
>>> type(state[0]).__name__, state[-1]  # the blob; the one parameter not at its default
('bytes', {'prior_scale': 5.0})
>>> again = pickle.loads(pickle.dumps(m))  # (repr: NaN is not equal to itself)
>>> [repr(getattr(again, k)) for k in FIELDS] == [repr(getattr(m, k)) for k in FIELDS]
True
"""

from __future__ import annotations

import inspect
import logging
import math
from array import array
from typing import TYPE_CHECKING, Any

from stream.detect.contexts import HOUR_BINS

if TYPE_CHECKING:
    from stream.detect.baseline import ChannelModel

logger = logging.getLogger(__name__)

__all__ = [
    "ARRAYS",
    "FIELDS",
    "INTS",
    "LATER_STATE",
    "PARAMS",
    "SCALARS",
    "STATE",
    "defaults_of",
    "fields_state",
    "restore",
    "save",
]

#: The parameters, in the order of the per-field form.
PARAMS = (
    "tau",
    "tau_scale",
    "warmup",
    "prior_scale",
    "min_scale",
    "huber",
    "z_on",
    "cusum_k",
    "cusum_h",
    "freeze_z",
    "max_gap",
    "profile_rate",
    "learn_every",
    "absorb_after",
)
#: The learned state, in the order of the per-field form.
STATE = (
    "daily",
    "hour_bin",
    "hour_sum",
    "hour_n",
    "n",
    "level",
    "dev",
    "learned_at",
    "sd_cache",
    "born",
    "recent",
    "recent_at",
    "xs",
    "expected",
    "sd",
    "z",
    "settled",
    "cusum_up",
    "cusum_down",
    "up_since",
    "down_since",
    "flat_run",
    "rep_p",
    "rep_n",
    "long_run",
    "hour_all",
    "tail_p",
    "weekend_seen",
    "weekday_level",
    "zz",
    "z2",
    "known_since",
    "known_tenths",
)
#: Everything a model saves in the per-field form.
FIELDS = PARAMS + STATE
#: Array state and its type codes (the per-field form pickles their raw bytes).
ARRAYS: dict[str, str] = {
    "daily": "f", "weekday_level": "d",
    "n": "q", "level": "d", "dev": "d", "learned_at": "d", "sd_cache": "d",
}  # fmt: skip
#: State added after the first release, with its value for a restored older state.
LATER_STATE: dict[str, Any] = {
    "flat_run": 0, "rep_p": 0.5, "rep_n": 0, "long_run": 0, "hour_all": 0, "tail_p": 0.0,
    "weekend_seen": 0, "weekday_level": None,  # (None: a new array of NaN)
    "zz": 0.0, "z2": 0.0, "known_since": math.nan,
    "known_tenths": 0,
}  # fmt: skip
#: The per-context arrays of doubles the compact form packs, then its scalar floats.
_CONTEXT_ARRAYS = ("level", "dev", "learned_at", "weekday_level")
SCALARS = (
    "hour_sum",
    "born",
    "recent_at",
    "xs",
    "expected",
    "sd",
    "z",
    "cusum_up",
    "cusum_down",
    "up_since",
    "down_since",
    "rep_p",
    "tail_p",
    "zz",
    "z2",
    "known_since",
)
#: The integer state of the compact form (after the blob).
INTS = (
    "hour_bin",
    "hour_n",
    "hour_all",
    "rep_n",
    "flat_run",
    "long_run",
    "weekend_seen",
    "known_tenths",
)
#: The integers saved before ``known_tenths`` existed (a compact state with ``settled``, a
#: bool, where ``known_tenths`` is now: it restores as 0).
_INTS_BEFORE_TENTHS = len(INTS) - 1
_DAILY_BYTES = 4 * HOUR_BINS  # the profile, single precision
_INTERNED: dict[float, float] = {}
#: Floats restored lately, by value: a patient's channels hold the same times and zeros, and
#: 100,000 patients restored after a rebalance need not hold a copy of each (cleared when full).
_RECENT_FLOATS: dict[float, float] = {}
_RECENT_MAX = 256


def _shared(v: float) -> float:
    """``v``, or an equal float restored lately (the same sign of zero; NaN is never equal).

    >>> a, b = _shared(float("1736556952")), _shared(float("1736556952"))
    >>> a is b, repr(_shared(-0.0)), repr(_shared(0.0))
    (True, '-0.0', '0.0')
    """
    s = _RECENT_FLOATS.get(v)
    if s is None:
        if len(_RECENT_FLOATS) >= _RECENT_MAX:
            _RECENT_FLOATS.clear()
        _RECENT_FLOATS[v] = v
        return v
    return s if math.copysign(1.0, s) == math.copysign(1.0, v) else v


def save(m: ChannelModel, defaults: tuple[Any, ...]) -> tuple[Any, ...]:
    """The state of ``m`` to pickle: the compact form, or the per-field one if it must.

    ``defaults`` are the parameters' defaults in :data:`PARAMS` order.
    """
    scalars = [getattr(m, k) for k in SCALARS]
    recent = m.recent
    if (
        not all(type(x) is float for x in scalars)
        or not all(type(x) is float for x in recent)
        or type(m.settled) is not bool  # (the compact form tells its versions apart by it)
    ):
        return fields_state(m, defaults)  # packed as doubles, an int would come back a float
    doubles = array("d", m.level)
    for k in _CONTEXT_ARRAYS[1:]:
        doubles.extend(getattr(m, k))
    doubles.extend(scalars)
    doubles.extend(recent)
    blob = m.daily.tobytes() + m.n.tobytes() + doubles.tobytes()
    state = (blob, *(getattr(m, k) for k in INTS), m.settled)
    changed = {
        k: v
        for k, d in zip(PARAMS, defaults, strict=True)
        if type(v := getattr(m, k)) is not type(d) or v != d
    }
    return (*state, changed) if changed else state


def fields_state(m: ChannelModel, defaults: tuple[Any, ...]) -> tuple[Any, ...]:
    """The per-field form: parameters as ``None`` when they are the defaults, then
    :data:`STATE` in order, arrays as their raw bytes."""
    params = tuple(getattr(m, k) for k in PARAMS)
    return (
        None if params == defaults else params,
        *(v.tobytes() if type(v) is array else v for v in (getattr(m, k) for k in STATE)),
    )


def restore(m: ChannelModel, state: tuple[Any, ...], defaults: tuple[Any, ...]) -> None:
    """Set the state of ``m`` (made without ``__init__``) from any saved form of it.

    Its derived ``_on4`` is its own to set.
    """
    if type(state[0]) is bytes:
        _restore_compact(m, state, defaults)
    else:
        _restore_fields(m, state, defaults)


def _restore_compact(m: ChannelModel, state: tuple[Any, ...], defaults: tuple[Any, ...]) -> None:
    changed: dict[str, Any] = state[-1] if type(state[-1]) is dict else {}
    for k, d in zip(PARAMS, defaults, strict=True):
        v = changed.get(k, d)
        setattr(m, k, _INTERNED.setdefault(v, v) if type(v) is float else v)
    blob: bytes = state[0]
    m.daily = array("f", blob[:_DAILY_BYTES])
    m.n = array("q", blob[_DAILY_BYTES : _DAILY_BYTES + 24])
    doubles = array("d", blob[_DAILY_BYTES + 24 :])
    i = 0
    for k in _CONTEXT_ARRAYS:
        setattr(m, k, doubles[i : i + 3])
        i += 3
    for k in SCALARS:
        setattr(m, k, _shared(doubles[i]))
        i += 1
    m.recent = [_shared(x) for x in doubles[i:]]
    n_ints = _INTS_BEFORE_TENTHS if type(state[1 + _INTS_BEFORE_TENTHS]) is bool else len(INTS)
    for k, v in zip(INTS, state[1 : 1 + n_ints], strict=False):
        setattr(m, k, v)
    if n_ints < len(INTS):
        m.known_tenths = 0
    m.settled = state[1 + n_ints]
    m.sd_cache = array("d", (m.scale(c) if m.n[c] else math.nan for c in range(3)))


def _restore_fields(m: ChannelModel, state: tuple[Any, ...], defaults: tuple[Any, ...]) -> None:
    n_params = len(PARAMS)
    head = state[0]
    if head is None or type(head) is tuple:  # else: saved with the parameters inline
        state = (*(defaults if head is None else head), *state[1:])
    missing = FIELDS[len(state) :]
    if missing and all(k in LATER_STATE for k in missing):  # saved by an older version
        state = (*state, *(LATER_STATE[k] for k in missing))
    # before weekend hours, the profile was 24 doubles
    old_profile = "weekend_seen" in missing
    for i, (k, v) in enumerate(zip(FIELDS, state, strict=True)):
        if type(v) is array:  # the first release pickled its arrays whole
            v = v.tobytes() if k == "daily" and old_profile else array(ARRAYS[k], v)
        if i < n_params and type(v) is float:
            v = _INTERNED.setdefault(v, v)  # parameters are shared by most patients
        elif type(v) is bytes:
            if k == "daily" and old_profile:
                v = array("f", array("d", v))
                v.extend(v)  # weekends as weekdays until learned
            else:
                v = array(ARRAYS[k], v)
        elif v is None and k == "weekday_level":
            v = array("d", (math.nan, math.nan, math.nan))
        setattr(m, k, v)


def defaults_of(cls: type[ChannelModel]) -> tuple[Any, ...]:
    """The parameters' defaults of ``cls``, in :data:`PARAMS` order."""
    sig = inspect.signature(cls.__init__)
    return tuple(sig.parameters[k].default for k in PARAMS)
