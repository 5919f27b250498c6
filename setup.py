"""The compiled modules; everything else about the package is in ``pyproject.toml``.

``stream/detect/_step.c`` is :meth:`stream.detect.baseline.ChannelModel.step` in C: replay's
innermost loop, and with it replay runs about 1.5 times as fast (``bench/replay.py
--compare``). ``stream/detect/_activity.c`` is :meth:`stream.detect.activity.Activity.update`
in C, the next costliest call (one per sample), and ``stream/detect/_technical.c``
:meth:`stream.detect.technical.DataQuality.on_sample` (likewise). All are optional: without a C
compiler the install still succeeds and the pure-Python methods run, with the same results.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            f"stream.detect.{name}",
            [f"stream/detect/{name}.c"],
            depends=["stream/detect/_slots.h"],
            # no fused multiply-add: every double rounds as the Python float it copies does
            extra_compile_args=["-O2", "-ffp-contract=off"],
            optional=True,
        )
        for name in ("_step", "_activity", "_technical")
    ]
)
