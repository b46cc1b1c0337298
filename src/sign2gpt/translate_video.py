"""Where `VideoTranslator` lived before `sign2gpt.inference`: model cards written by `sign2gpt
export` name `sign2gpt.translate_video.VideoTranslator`, so the name keeps working."""

from sign2gpt.inference.inputs import collect_videos
from sign2gpt.inference.video_translator import VideoTranslator

__all__ = ["VideoTranslator", "collect_videos"]
