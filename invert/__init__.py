"""invert — what does this layer still know about its input?

Encoders in (``invert.encoders``), inverters in the middle (``invert.inversion`` by
optimisation, ``invert.decoder`` learned), measurements and experiments out
(``invert.analysis``, ``invert.experiments``).
"""

__version__ = "0.1.0"
