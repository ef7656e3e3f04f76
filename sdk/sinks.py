"""Where events go: a JSON-lines writer usable as a Detector callback.

>>> import sys
>>> sink = JsonLinesSink(sys.stdout)
>>> sink(Detection("yes", 0.91, 1.0, 2.0, model="kws"))   # doctest: +NORMALIZE_WHITESPACE
{"label": "yes", "score": 0.91, "start_s": 1.0, "end_s": 2.0, "model": "kws", "extra": {}, "time_s": 2.0}
"""
from __future__ import annotations

import json
import os
from typing import TextIO

from sdk.events import Detection


class JsonLinesSink:
    """Write each Detection as one JSON line (``Detection.to_dict()``), flushed at once.

    ``target`` is an open text stream or a path (appended to; closed by ``close()``).
    """

    def __init__(self, target: TextIO | str | os.PathLike):
        if isinstance(target, (str, os.PathLike)):
            self._stream, self._owned = open(target, "a", encoding="utf-8"), True
        else:
            self._stream, self._owned = target, False

    def __call__(self, event: Detection) -> None:
        self._stream.write(json.dumps(event.to_dict()) + "\n")
        self._stream.flush()

    def close(self) -> None:
        if self._owned:
            self._stream.close()

    def __enter__(self) -> "JsonLinesSink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
