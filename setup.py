"""The two compiled modules; everything else about the package is in ``pyproject.toml``.

``stream/detect/_step.c`` is :meth:`stream.detect.baseline.ChannelModel.step` in C: replay's
innermost loop, and with it replay runs about 1.5 times as fast (``bench/replay.py
--compare``). ``stream/detect/_activity.c`` is :meth:`stream.detect.activity.Activity.update`
in C, the next costliest call (one per sample). Both are optional: without a C compiler the
install still succeeds and the pure-Python methods run, with the same results.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "stream.detect._step",
            ["stream/detect/_step.c"],
            # no fused multiply-add: every double rounds as the Python float it copies does
            extra_compile_args=["-O2", "-ffp-contract=off"],
            optional=True,
        ),
        Extension(
            "stream.detect._activity",
            ["stream/detect/_activity.c"],
            extra_compile_args=["-O2", "-ffp-contract=off"],
            optional=True,
        ),
    ]
)
