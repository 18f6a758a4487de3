"""Video data: PyAV reading and writing, Something-Something v2 in its official layout, and
synthetic moving-shape clips with known motion, boxes and masks.

PyAV itself is imported only when a file is read or written.
"""

from .datasets import SomethingSomethingV2, collate_clips
from .foresight_clips import ForesightClips
from .synthetic import ACTIONS, COLOURS, HAND_COLOUR, SyntheticMotion, object_colour
from .video import ClipTooShortError, VideoDecodeError, VideoInfo, frame_rate, read_video, video_info, write_video

__all__ = [
    "ACTIONS",
    "COLOURS",
    "HAND_COLOUR",
    "ClipTooShortError",
    "ForesightClips",
    "SomethingSomethingV2",
    "SyntheticMotion",
    "VideoDecodeError",
    "VideoInfo",
    "collate_clips",
    "frame_rate",
    "object_colour",
    "read_video",
    "video_info",
    "write_video",
]
