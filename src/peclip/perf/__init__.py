"""Speed and memory tools for benchmarks: the official code's reference mode, FLOP counts, int8.

:mod:`peclip.perf.reference` (reference mode, math attention), :mod:`peclip.perf.flops` (FLOPs per clip);
the int8 path ships with prediction (:mod:`peclip.predict.int8`) and is re-exported here for benchmarks.
"""

from peclip.perf.flops import FlopCount, count_flops, flops
from peclip.perf.reference import configure_default, configure_reference, math_attention, reference_model
from peclip.precision import autocast
from peclip.predict.int8 import Agreement, Int8PEClip, agreement, compare_probabilities, int8_agreement, quantize_int8

__all__ = ["Agreement", "FlopCount", "Int8PEClip", "agreement", "autocast", "compare_probabilities",
           "configure_default", "configure_reference", "count_flops", "flops", "int8_agreement", "math_attention",
           "quantize_int8", "reference_model"]
