"""What one prediction run is asked to do: predict.py's flags as a plain dataclass, so the
pipeline is driven the same way from Python as from the command line."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from utils.options import default

MODE = "predict"


@dataclass
class PredictSettings:
    save_dir: str = default("save_dir", MODE)
    json: str | None = None
    crop: bool = False
    count: bool = False
    show: bool = False
    save_txt: bool = False
    save_mot: str | None = None
    quiet: bool = False
    batch_size: int = default("batch_size", MODE)
    # tracking and counting
    track: str | None = None
    track_buffer: float = default("track_buffer")
    track_high: float | None = None
    track_new: float | None = None
    track_match: float | None = None
    track_min_frames: int | None = None
    line: list[str] | None = None
    zone: list[str] | None = None
    # video and streams
    stream_mode: str | None = None
    vid_stride: int = default("vid_stride")
    reconnect: int = default("reconnect")

    @classmethod
    def from_args(cls, args: Any) -> PredictSettings:
        """The settings of parsed command-line arguments (missing ones keep their defaults)."""
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)})

    @property
    def tracker_settings(self) -> Any:
        from utils.tracking import TrackerSettings

        return TrackerSettings(
            buffer_s=self.track_buffer,
            high=self.track_high,
            new=self.track_new,
            match_iou=self.track_match,
            min_frames=self.track_min_frames,
        )
