"""The trackers of roboflow's ``trackers`` library, built from :class:`TrackerSettings`.

The library counts its lost-track buffer in frames at 30 fps and scales it by the frame rate
it is given, so a buffer in seconds is ``seconds * 30`` whatever the source's rate.
"""

from __future__ import annotations

from typing import Any

from utils.tracking import TrackerSettings

_LIBRARY_FPS = 30.0


def _set(value: float | None) -> float:
    # The registry merges each tracker's defaults in, so no setting is left unset here.
    assert value is not None, "tracker settings reach the library merged with its defaults"
    return float(value)


def _common(settings: TrackerSettings, frame_rate: float) -> dict[str, Any]:
    return {
        "lost_track_buffer": max(int(round(settings.buffer_s * _LIBRARY_FPS)), 0),
        "frame_rate": float(frame_rate),
        "minimum_consecutive_frames": int(settings.min_frames or 1),
    }


def bytetrack(settings: TrackerSettings, frame_rate: float) -> Any:
    from trackers import ByteTrackTracker

    return ByteTrackTracker(
        **_common(settings, frame_rate),
        track_activation_threshold=_set(settings.new),
        high_conf_det_threshold=_set(settings.high),
        minimum_iou_threshold=_set(settings.match_iou),
    )


def botsort(settings: TrackerSettings, frame_rate: float) -> Any:
    from trackers import BoTSORTTracker

    return BoTSORTTracker(
        **_common(settings, frame_rate),
        track_activation_threshold=_set(settings.new),
        high_conf_det_threshold=_set(settings.high),
        minimum_iou_threshold_first_assoc=_set(settings.match_iou),
    )


def ocsort(settings: TrackerSettings, frame_rate: float) -> Any:
    from trackers import OCSORTTracker

    return OCSORTTracker(
        **_common(settings, frame_rate),
        high_conf_det_threshold=_set(settings.high),
        minimum_iou_threshold=_set(settings.match_iou),
    )


def sort(settings: TrackerSettings, frame_rate: float) -> Any:
    from trackers import SORTTracker

    return SORTTracker(
        **_common(settings, frame_rate),
        track_activation_threshold=_set(settings.new),
        minimum_iou_threshold=_set(settings.match_iou),
    )
