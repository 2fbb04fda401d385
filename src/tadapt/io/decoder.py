"""Frame-exact video decoding with PyAV and numpy: metadata and random access, without torch.

:class:`VideoDecoder` returns frames as ``(T, H, W, C)`` uint8 RGB arrays (``C = 3``), the
layout PyAV and the frame cache produce; :class:`tadapt.io.video.VideoReader` hands them out as
tensors (windows, uniform sampling), and the transforms in :mod:`tadapt.data.transforms` turn
them into the ``(C, T, H, W)`` float layout models consume.

**Frame numbering.** Frame ``i`` is the ``i``-th frame of the video in presentation order,
exactly as a full sequential decode from the start would give it. Random access seeks to the
keyframe at or before the target and decodes forward (the way PyAV/FFmpeg must, since only
keyframes decode on their own); decoded frames are recognised by their presentation timestamp
(pts). The first time a process opens a video, :func:`probe_video` demuxes every packet of its
video stream (reading the file once, decoding only the first 32 frames) to build the sorted pts
table, the keyframe positions and the frame count, and checks that the decoder returns those
timestamps in order. Containers whose timestamps cannot be trusted (AVI with packed B-frames,
where FFmpeg attaches guessed pts out of order; streams without pts) are read *sequentially*:
frames are counted from the start, forward reads continue where the last one stopped and a
backward read reopens the file. A disorder met later while reading switches the video to
sequential reading too (logged once). The index is cached per process (keyed by path, size
and mtime; data-loader workers forked after a probe inherit it), so datasets can open a reader
per sample cheaply.

**Cost.** A read sorts and de-duplicates its indices, seeks once to the keyframe at or before
the first one, and decodes forward, converting only requested frames to RGB; a later read
that starts past the last one and before the next keyframe continues without seeking. A
window therefore costs its span plus the distance back to its keyframe (up to the GOP length,
250 frames for libx264 defaults). For many epochs over the same videos, use the frame cache
(:mod:`tadapt.io.frame_cache`): ``benchmarks/decode.py`` measures it against decoding.

**Frame count.** ``VideoInfo.num_frames`` is the number of video packets the demuxer returns
intact (non-empty, not flagged corrupt or discarded). The container header's count is ignored:
many containers have none, and it is wrong for truncated files. A truncated file therefore
probes fine with the frames that survived (its cut last packet is flagged corrupt and not
counted); a frame that still cannot be decoded raises :class:`VideoError` when read.

**Resizing and rotation.** With ``short_side`` set, frames are scaled by FFmpeg's swscale
(bilinear) straight from the decoder's YUV to RGB at the target size: the short side becomes
``short_side`` and the long side ``round(long * short_side / short)`` (nearest integer, not
forced even; the aspect ratio of stored pixels is kept, the sample aspect ratio is ignored).
Rotation metadata (display matrix, or the legacy ``rotate`` tag) is *applied*: frames come
out upright, so ``output_size`` has height and width swapped for 90/270 degrees while
``VideoInfo.width``/``height`` stay as stored.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Self

import av
import numpy as np
from av.video.reformatter import VideoReformatter

if TYPE_CHECKING:
    from tadapt.io.frame_cache import FrameCache

__all__ = ["VideoDecoder", "VideoError", "VideoInfo", "probe_video", "stat_video"]

logger = logging.getLogger(__name__)

# Frames decoded from the start at probe time to check that the decoder's pts follow the
# presentation order (packed-B-frame AVIs fail this at the first B-frame).
_CHECK_FRAMES = 32
# swscale filter for the short-side resize (FFmpeg's default; it widens its kernel when
# downscaling, so it does not alias like plain bilinear sampling).
_INTERPOLATION = "BILINEAR"
# Frames decoded past a missing target before calling it undecodable (an out-of-order frame
# shows up within the decoder's reorder delay, a few frames).
_REORDER_SLACK = 16
_INDEX_CACHE_SIZE = 256
# A video is variable-rate when more than this fraction of its pts steps are irregular; a
# dropped or repeated frame here and there (common in real captures) leaves it constant-rate.
_VFR_FRACTION = 0.1


class VideoError(ValueError):
    """A video cannot be opened, decoded or read as asked; the message starts with the file.

    Attributes:
        path: the video file concerned.
    """

    def __init__(self, path: str | os.PathLike[str], message: str) -> None:
        self.path = os.fspath(path)
        super().__init__(f"{self.path}: {message}")


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` learns about a video's first video stream.

    Attributes:
        path: the file, as given.
        fps: frame rate: one over the median pts step for constant-rate video (exact, and
            robust to a dropped frame), the average ``num_frames / duration_sec`` for
            variable-rate video; the container's nominal rate when frames have no pts.
        num_frames: frames in the video stream (intact packets; see the module docstring).
        duration_sec: from the first frame's pts to the end of the last one (its pts plus the
            median pts step); ``num_frames / fps`` unless frames were dropped or the rate varies.
        width: frame width as stored (before rotation).
        height: frame height as stored (before rotation).
        time_base: the stream's time base (seconds per pts tick).
        start_time_sec: presentation time of the first frame (often 0; non-zero for files cut
            from a stream or with a start offset). Frame 0 is the first frame regardless.
        rotation: counter-clockwise degrees (0, 90, 180 or 270) that make frames upright;
            :class:`VideoDecoder` applies it.
        has_audio: whether the file has an audio stream (it is never decoded).
        codec: the video codec's FFmpeg name (``"h264"``, ``"mpeg4"``, ...).
        variable_frame_rate: whether over 10 % of the steps between consecutive pts differ
            from the median step by more than timestamp rounding (1 tick or 1 %). Isolated
            irregular steps do not count (``clip_32f.mp4`` of the test data has one doubled
            step, a dropped frame). Frame indices are exact either way; only the mapping
            between seconds and frames through ``fps`` is approximate for variable-rate video.
    """

    path: str
    fps: float
    num_frames: int
    duration_sec: float
    width: int
    height: int
    time_base: Fraction
    start_time_sec: float
    rotation: int
    has_audio: bool
    codec: str
    variable_frame_rate: bool


@dataclass
class _Index:
    """Per-video random-access table, shared by all readers of the file in a process."""

    info: VideoInfo
    pts: np.ndarray  # (N,) int64 presentation timestamps, ascending
    keyframes: np.ndarray  # (K,) int64 indices of frames that are keyframes, ascending
    by_pts: bool  # identify frames by pts (else: count them from the start)

    def frame_at(self, pts: int) -> int | None:
        """Index of the frame with timestamp ``pts``, ``None`` if no frame has it."""
        i = int(np.searchsorted(self.pts, pts))
        return i if i < len(self.pts) and self.pts[i] == pts else None


class _OutOfOrder(Exception):  # noqa: N818 - internal signal, never escapes this module
    """Decoded pts contradict the index: fall back to sequential reading."""


def _open_container(path: str) -> tuple[Any, Any]:
    """Open ``path`` and return ``(container, first real video stream)``; errors name the file."""
    if not os.path.exists(path):
        raise VideoError(path, "no such file")
    if os.path.isdir(path):
        raise VideoError(path, "is a directory, not a video file")
    try:
        container = av.open(path, metadata_errors="ignore")
    except (av.FFmpegError, OSError, UnicodeDecodeError) as err:
        raise VideoError(path, f"cannot open as a video ({err})") from err
    streams = [
        s
        for s in container.streams.video
        if not s.disposition & av.stream.Disposition.attached_pic  # skip cover art
    ]
    if not streams:
        container.close()
        raise VideoError(path, "has no video stream")
    return container, streams[0]


def _decode_packet(stream: Any, packet: Any, path: str) -> list[Any]:
    """Decode one packet (``None`` drains the decoder); a corrupt packet costs only its frame."""
    try:
        return list(stream.decode(packet))
    except av.FFmpegError as err:
        pts = None if packet is None else packet.pts
        logger.debug("%s: packet at pts %s does not decode (%s)", path, pts, err)
        return []


def _rotation_of(frame: Any, stream: Any) -> int:
    """Counter-clockwise display rotation, from the frame's display matrix or the rotate tag."""
    degrees = float(frame.rotation or 0)
    if not degrees and "rotate" in stream.metadata:
        try:  # the legacy tag is clockwise
            degrees = -float(stream.metadata["rotate"])
        except ValueError:
            degrees = 0.0
    return round(degrees / 90.0) % 4 * 90


def _build_index(path: str) -> _Index:
    """Demux every video packet (and decode the first few) of ``path`` into an :class:`_Index`."""
    container, stream = _open_container(path)
    try:
        pts_list: list[int | None] = []
        key_pts: list[int | None] = []
        decoded_pts: list[int | None] = []
        rotation = 0
        packets = container.demux(stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.FFmpegError as err:  # unreadable tail: keep what came before
                logger.warning("%s: demuxing stopped early (%s)", path, err)
                break
            if packet.size and not packet.is_corrupt and not packet.is_discard:
                pts_list.append(packet.pts)
                if packet.is_keyframe:
                    key_pts.append(packet.pts)
            if len(decoded_pts) < _CHECK_FRAMES:  # the empty packet at the end flushes
                for frame in _decode_packet(stream, packet, path):
                    if not decoded_pts:
                        rotation = _rotation_of(frame, stream)
                    decoded_pts.append(frame.pts)
        header_frames = stream.frames
        codec = stream.codec_context.name
        time_base = stream.time_base or Fraction(1, 1)
        rate = stream.average_rate or stream.guessed_rate
        width, height = stream.codec_context.width, stream.codec_context.height
        has_audio = bool(container.streams.audio)
        start = stream.start_time
    finally:
        container.close()

    num_frames = len(pts_list)
    if num_frames == 0:
        raise VideoError(path, "has no video frames")
    if not decoded_pts:
        raise VideoError(path, f"no frame of its {codec} stream decodes (corrupt file?)")
    if header_frames and header_frames != num_frames:
        logger.warning("%s: header says %d frames, file has %d", path, header_frames, num_frames)
    known = [p for p in pts_list if p is not None]
    pts = np.unique(np.asarray(known, dtype=np.int64))  # ascending = presentation order
    # frames are found by pts if those are unique, and the decoder returns them increasing and
    # from the table (it may drop undecodable leading frames: those then fail when read)
    by_pts = len(known) == len(pts) == num_frames and None not in decoded_pts
    if by_pts:
        decoded = np.asarray(decoded_pts, dtype=np.int64)
        at = np.searchsorted(pts, decoded)
        in_table = pts[np.minimum(at, num_frames - 1)] == decoded
        by_pts = bool(in_table.all() and (np.diff(at) > 0).all())
        if not by_pts:
            logger.info("%s: decoder pts are out of presentation order; reading sequentially", path)
    if by_pts:
        keyframes = np.sort(np.searchsorted(pts, np.asarray(key_pts, dtype=np.int64)))
        steps = np.diff(pts)
        tick = float(time_base)
        step = float(np.median(steps)) if len(steps) else 1.0 / float(rate or 1) / tick
        duration = (float(pts[-1] - pts[0]) + step) * tick
        start_sec = int(pts[0]) * tick
        irregular = np.abs(steps - step) > max(1.0, 0.01 * step)  # beyond timestamp rounding
        vfr = bool(irregular.mean() > _VFR_FRACTION) if len(steps) else False
        fps = num_frames / duration if vfr else 1.0 / (step * tick)
    else:  # no usable timestamps: trust the nominal rate
        pts, keyframes = np.zeros(0, np.int64), np.zeros(0, np.int64)
        if not rate:
            raise VideoError(path, "has neither usable timestamps nor a frame rate")
        duration = num_frames / float(rate)
        fps = float(rate)
        start_sec = float((start or 0) * time_base)
        vfr = False
    info = VideoInfo(
        path=path,
        fps=fps,
        num_frames=num_frames,
        duration_sec=duration,
        width=width,
        height=height,
        time_base=time_base,
        start_time_sec=start_sec,
        rotation=rotation,
        has_audio=has_audio,
        codec=codec,
        variable_frame_rate=vfr,
    )
    return _Index(info, pts, keyframes, by_pts)


@functools.lru_cache(maxsize=_INDEX_CACHE_SIZE)
def _cached_index(path: str, size: int, mtime_ns: int) -> _Index:
    """Index of one version of a file (size and mtime key the cache; ``path`` is absolute)."""
    del size, mtime_ns  # cache key only
    return _build_index(path)


def stat_video(path: str) -> os.stat_result:
    """``os.stat`` of a video file, failures as a :class:`VideoError` naming it."""
    try:
        return os.stat(path)
    except FileNotFoundError as err:
        raise VideoError(path, "no such file") from err
    except OSError as err:
        raise VideoError(path, f"cannot read ({err.strerror or err})") from err


def _index_for(path: str) -> tuple[_Index, VideoInfo]:
    """The cached index of ``path`` (rebuilt when the file changed) and its info for ``path``."""
    st = stat_video(path)
    index = _cached_index(os.path.abspath(path), st.st_size, st.st_mtime_ns)
    return index, replace(index.info, path=path)  # report the path as the caller spelled it


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Metadata of a video (demuxes the whole file once per process; see the module docstring).

    Raises:
        VideoError: the file is missing, not a video, or has no decodable video frame.
    """
    return _index_for(os.fspath(path))[1]


def _scaled_size(width: int, height: int, short_side: int | None) -> tuple[int, int]:
    """``(height, width)`` after scaling the short side to ``short_side`` (rounded to nearest)."""
    if short_side is None:
        return height, width
    short, long = min(width, height), max(width, height)
    scaled_long = max(1, (2 * long * short_side + short) // (2 * short))
    return (short_side, scaled_long) if height <= width else (scaled_long, short_side)


class VideoDecoder:
    """Frame-exact reads from one video as numpy arrays, keeping the file open between reads.

    :class:`tadapt.io.video.VideoReader` is this decoder handing out tensors.

    Not thread-safe; use one reader per worker. Reads are sorted and de-duplicated before
    decoding, so a window costs one seek (to the keyframe at or before its first frame) and one
    forward decode, and a read that starts after the previous one's end and before the next
    keyframe continues decoding without seeking.

    Args:
        path: the video file.
        short_side: decode straight to this short side (bilinear); ``None`` keeps stored size.
        cache: serve every read from this :class:`~tadapt.io.frame_cache.FrameCache` entry
            (decoding the whole video into it on first use) instead of decoding.
        threads: decoder threads (FFmpeg frame and slice threading); ``0`` lets FFmpeg use
            one per core, ``1`` decodes in the calling thread, which is what many data-loader
            workers sharing the cores want.

    Attributes:
        info: the video's :class:`VideoInfo`.
        output_size: ``(H, W)`` of returned frames, after resizing and rotation.
        num_seeks: seeks (and reopenings) this reader made; a statistic for tests/benchmarks.

    Raises:
        VideoError: the file is missing, not a video, or ``short_side < 1``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        short_side: int | None = None,
        cache: FrameCache | None = None,
        threads: int = 0,
    ) -> None:
        self.path = os.fspath(path)
        if short_side is not None and short_side < 1:
            raise VideoError(self.path, f"short_side must be >= 1, got {short_side}")
        if threads < 0:
            raise VideoError(self.path, f"threads must be >= 0, got {threads}")
        self.short_side = short_side
        self.threads = threads
        self.num_seeks = 0
        self._container: Any = None
        self._cached: np.ndarray | None = None
        self._pos: int | None = None  # index of the last frame taken from the decoder
        self._closed = False
        if cache is not None:
            self._cached, self.info = cache.load(self.path, short_side)
            self.output_size: tuple[int, int] = (self._cached.shape[1], self._cached.shape[2])
            return
        self._index, self.info = _index_for(self.path)
        self._decode_hw = _scaled_size(self.info.width, self.info.height, short_side)
        # one reformatter keeps its swscale context: 3-10x faster than frame.to_ndarray(...),
        # which builds a new context (and thread pool) per frame
        self._reformatter = VideoReformatter()
        h, w = self._decode_hw
        self.output_size = (w, h) if self.info.rotation in (90, 270) else (h, w)
        self._reopen()

    # ---------------------------------------------------------------- public API

    def read_arrays(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Frames at ``indices`` (any order, repeats allowed), as ``(T, H, W, 3)`` uint8 RGB.

        Raises:
            VideoError: an index is outside ``[0, num_frames)``, or a frame cannot be decoded.
        """
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = self.info.num_frames
        bad = idx[(idx < 0) | (idx >= n)]
        if len(bad):
            raise VideoError(self.path, f"frame index {int(bad[0])} outside [0, {n})")
        if self._closed:
            raise VideoError(self.path, "reader is closed")
        if self._cached is not None:
            return self._cached[idx]  # fancy indexing copies out of the memmap
        unique, inverse = np.unique(idx, return_inverse=True)
        frames = self._decode_sorted(unique)
        return frames if np.array_equal(unique, idx) else frames[inverse]

    def iter_frames(self) -> Iterator[np.ndarray]:
        """Every frame in order, decoded sequentially, as ``(H, W, 3)`` uint8 arrays.

        Arrays may be views that the next step reuses; copy one to keep it. This is how the
        frame cache fills an entry (one pass, no seeks, nothing held in memory).

        Raises:
            VideoError: a frame is missing from the decoded stream or the stream ends early.
        """
        if self._cached is not None:
            yield from self._cached
            return
        self._reopen()
        self._pos = None  # frames are counted here, not tracked: the next read seeks
        count = 0
        for frame in self._frames:  # decode order from the start = presentation order
            yield self._to_rgb(frame)
            count += 1
            if count == self.info.num_frames:
                return
        raise VideoError(
            self.path,
            f"cannot decode frame {count} of {self.info.num_frames} (truncated or corrupt file?)",
        )

    def close(self) -> None:
        """Release the file; later reads raise :class:`VideoError`."""
        self._release_decoder()
        self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.path!r}, frames={self.info.num_frames}, "
            f"output_size={self.output_size}, cached={self._cached is not None})"
        )

    # ---------------------------------------------------------------- decoding

    def _release_decoder(self) -> None:
        """Close the frame generator and the container now, not when the GC finds them.

        A generator left in a reference cycle keeps the decoder (and its threads) alive; if a
        DataLoader forks its workers before the GC runs, a worker that frees it hangs.
        """
        frames = getattr(self, "_frames", None)
        if frames is not None and hasattr(frames, "close"):
            frames.close()
        self._frames: Iterator[Any] = iter(())
        self._stream: Any = None
        if self._container is not None:
            self._container.close()
            self._container = None

    def _reopen(self) -> None:
        """(Re)open the file positioned before frame 0."""
        if self._container is not None:
            self.num_seeks += 1
        self._release_decoder()
        self._container, self._stream = _open_container(self.path)
        self._stream.thread_type = "AUTO"  # frame threads where the codec has them, else slice
        self._stream.codec_context.thread_count = self.threads
        self._frames = self._frame_stream()
        self._pos = -1

    def _frame_stream(self) -> Iterator[Any]:
        """Decoded frames from the container's current position to the end."""
        packets = self._container.demux(self._stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.FFmpegError as err:  # unreadable tail: drain what the decoder holds
                logger.warning("%s: demuxing stopped early (%s)", self.path, err)
                yield from _decode_packet(self._stream, None, self.path)
                return
            yield from _decode_packet(self._stream, packet, self.path)

    def _indexed_frames(self) -> Iterator[tuple[int, Any]]:
        """``(frame index, frame)`` from the current position; tracks ``self._pos``."""
        index = self._index
        for frame in self._frames:
            if index.by_pts:
                if frame.pts is None:
                    raise _OutOfOrder
                idx = index.frame_at(frame.pts)
                if idx is None:  # not in the table (e.g. a frame FFmpeg flags as discarded)
                    continue
                if self._pos is not None and idx <= self._pos:
                    raise _OutOfOrder
            else:
                assert self._pos is not None  # sequential mode only decodes from the start
                idx = self._pos + 1
            self._pos = idx
            yield idx, frame

    def _move_before(self, target: int) -> None:
        """Position the decoder so that frame ``target`` comes next or soon, seeking if needed."""
        pos = self._pos
        index = self._index
        if not index.by_pts:
            if pos is None or pos >= target:
                self._reopen()
            return
        k = int(np.searchsorted(index.keyframes, target, side="right")) - 1
        if k < 0:  # no keyframe at or before the target: decode from the start
            if pos is None or pos >= target:
                self._reopen()
            return
        keyframe = int(index.keyframes[k])
        if pos is not None and pos < target and keyframe <= pos + 1:
            return  # continuing forward decodes no more than a seek would
        self._container.seek(
            int(index.pts[keyframe]), backward=True, any_frame=False, stream=self._stream
        )
        self.num_seeks += 1
        self._frames = self._frame_stream()
        self._pos = None

    def _decode_sorted(self, targets: np.ndarray) -> np.ndarray:
        """Frames at ascending unique ``targets`` as ``(U, H, W, 3)``."""
        out = np.empty((len(targets), *self.output_size, 3), dtype=np.uint8)
        try:
            self._fill(targets, out)
        except _OutOfOrder:
            logger.warning("%s: decoded pts contradict the index; reading sequentially", self.path)
            self._index.by_pts = False
            self._reopen()
            self._fill(targets, out)
        return out

    def _fill(self, targets: np.ndarray, out: np.ndarray) -> None:
        """Decode ``targets`` (ascending, unique) into ``out`` with as few seeks as possible."""
        try:
            for j, target in enumerate(targets.tolist()):
                self._move_before(target)
                overshoot = 0
                for idx, frame in self._indexed_frames():
                    if idx == target:
                        out[j] = self._to_rgb(frame)
                        break
                    if idx > target:  # a late out-of-order frame trips _indexed_frames
                        overshoot += 1
                        if overshoot > _REORDER_SLACK:
                            raise VideoError(
                                self.path, f"cannot decode frame {target} (corrupt file?)"
                            )
                else:
                    raise VideoError(
                        self.path,
                        f"cannot decode frame {target} of {self.info.num_frames} "
                        "(truncated or corrupt file?)",
                    )
        except BaseException:
            self._pos = None  # decoder position unknown: the next read seeks
            raise

    def _to_rgb(self, frame: Any) -> np.ndarray:
        """``(H, W, 3)`` uint8 RGB of a decoded frame, resized and rotated upright."""
        h, w = self._decode_hw
        rgb = self._reformatter.reformat(
            frame, width=w, height=h, format="rgb24", interpolation=_INTERPOLATION, threads=1
        ).to_ndarray()
        rotation = self.info.rotation
        return np.rot90(rgb, rotation // 90) if rotation else rgb
