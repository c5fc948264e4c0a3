"""The adapters: one package per upstream or per service built on them (``bridge.adapters`` loads them by name).

``DEFAULT`` is what a configuration without an ``adapters`` line runs; the core reads it from here,
so that it names no peer itself.
"""

DEFAULT = ("esia", "egisz", "tmk")
