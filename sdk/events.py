"""What the runtime hands to applications: one detection event."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Detection:
    """A keyword (or class) detected in a stream.

    Times are seconds from the start of the stream; ``time_s`` is when the
    detector decided (the end of the window that crossed the threshold).
    """

    label: str
    score: float
    start_s: float
    end_s: float
    model: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def time_s(self) -> float:
        return self.end_s

    def to_dict(self) -> dict:
        d = asdict(self)
        d["time_s"] = self.end_s
        return d
