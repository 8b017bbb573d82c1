"""The prediction pipeline: a source's frames through the detector, hooks and sinks.

    frames (a source, read ahead on its own thread)
      -> detections (the detector, several frames per run where the source allows)
      -> hooks, in order (the tracker gives ids, counters count)
      -> sinks (drawings, crops, labels, JSON, the MOT file, the video, the window)

Sinks run on a writer thread, so drawing and encoding one frame overlap detecting the next;
with a window (OpenCV's GUI wants one thread) they run in line. Each sink writes under a
temporary name and puts its file in place in ``finish``, so an interrupted run leaves whole
files or none. Ctrl-C during a video stops after the frame in progress and finishes every
output.
"""

from __future__ import annotations

import queue
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from utils.inference.base import Detections, DetectorBase
from utils.inference.sources import Frame, FrameSource


@dataclass
class FrameResult:
    """One frame and what was found in it; hooks add to it, sinks read it."""

    frame: Frame
    detections: Detections | None  # None when the frame could not be read
    counts: dict | None = None  # the counters' record of this frame
    extra: dict = field(default_factory=dict)  # what further hooks add for the sinks

    @property
    def ok(self) -> bool:
        return self.detections is not None

    @property
    def found(self) -> Detections:
        """The detections of a readable frame."""
        assert self.detections is not None, f"{self.frame.name} could not be read"
        return self.detections

    @property
    def image(self) -> Any:
        """The pixels of a readable frame (HxWx3 uint8 RGB)."""
        assert self.frame.image is not None, f"{self.frame.name} could not be read"
        return self.frame.image


@dataclass
class RunContext:
    """What every hook and sink of a run may read."""

    source: FrameSource
    class_names: Sequence[str]
    model: str  # the detector's one-line description
    log: Callable[[str], None] = print
    hooks: list = field(default_factory=list)
    stop: list = field(default_factory=list)  # non-empty: stop after the current frame
    render: Callable[[FrameResult], Any] | None = None  # the drawn frame (utils.inference.draw)


@dataclass
class RunSummary:
    """What a run did, for the closing lines and the JSON."""

    frames: int = 0  # frames (or images) detected
    failures: list[str] = field(default_factory=list)  # names of unreadable images
    stopped: bool = False  # by Ctrl-C or the window's Esc/q
    extra: dict = field(default_factory=dict)  # the hooks' summaries, by hook name
    lines: list[str] = field(default_factory=list)  # the hooks' summaries as text


class Hook:
    """Acts on each frame's detections, in order, before the sinks see them."""

    name = "hook"

    def start(self, context: RunContext) -> None:
        """Called once before the first frame."""

    def on_frame(self, result: FrameResult) -> None:
        raise NotImplementedError

    def draw(self, image: Any, result: FrameResult) -> None:
        """Draw this hook's overlay on the frame's drawing (a PIL image), if it has one."""

    def summary(self) -> dict | None:
        """JSON-ready summary for the end of the run (None: nothing to add)."""
        return None

    def summary_lines(self) -> list[str]:
        """The summary as text for the closing lines."""
        return []


class Sink:
    """Consumes each frame's results: files, a window, a progress bar."""

    threaded = True  # may run on the writer thread (a GUI window may not)

    def start(self, context: RunContext) -> None:
        self.context = context

    def write(self, result: FrameResult) -> None:
        raise NotImplementedError

    def finish(self, summary: RunSummary) -> None:
        """The run ended (also after Ctrl-C): complete and put in place what was written."""

    def abort(self) -> None:
        """The run failed: remove what was half written."""


def run_pipeline(
    detector: DetectorBase,
    source: FrameSource,
    hooks: Sequence[Hook] = (),
    sinks: Sequence[Sink] = (),
    batch_size: int = 1,
    log: Callable[[str], None] = print,
    render_factory: Callable[[RunContext], Callable[[FrameResult], Any]] | None = None,
    threaded: bool = True,
) -> RunSummary:
    """Run the detector over every frame of ``source``; see the module's docstring.

    ``render_factory(context)`` makes the function that draws a frame for the sinks that
    show or save drawings."""
    context = RunContext(source, detector.class_names, detector.describe(), log, list(hooks))
    if render_factory is not None:
        context.render = render_factory(context)
    for hook in hooks:
        hook.start(context)
    for sink in sinks:
        sink.start(context)
    summary = RunSummary()
    writer = _SinkRunner(sinks, threaded and all(s.threaded for s in sinks))
    stopping = _StopOnInterrupt(context.stop) if source.is_video else None
    try:
        with stopping or _nothing():
            for result in _detected(detector, source, batch_size, context.stop):
                for hook in hooks:
                    if result.ok:
                        hook.on_frame(result)
                if result.ok:
                    summary.frames += 1
                else:
                    summary.failures.append(result.frame.name)
                writer.put(result)
        writer.close()
    except BaseException:
        writer.close(failed=True)
        for sink in sinks:
            sink.abort()
        raise
    finally:
        source.close()
    summary.stopped = bool(context.stop)
    summary.extra = {hook.name: hook.summary() for hook in hooks if hook.summary() is not None}
    summary.lines = [line for hook in hooks for line in hook.summary_lines()]
    for sink in sinks:
        sink.finish(summary)
    return summary


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _StopOnInterrupt:
    """Ctrl-C asks to stop; the frame in progress is finished (outputs stay in step)."""

    def __init__(self, stop: list) -> None:
        self.stop = stop
        self.previous: Any = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, lambda signum, _: self.stop.append(signum))
        return self

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        return False


def _batches(frames: Iterable[Frame], size: int, stop: list) -> Iterator[list[Frame]]:
    batch: list[Frame] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) >= size:
            yield batch
            batch = []
        if stop:
            break
    if batch:
        yield batch


def _detected(
    detector: DetectorBase, source: FrameSource, batch_size: int, stop: list
) -> Iterator[FrameResult]:
    size = max(int(batch_size), 1) if source.batchable else 1
    for batch in _batches(source.frames(), size, stop):
        readable = [frame for frame in batch if frame.image is not None]
        found = iter(detector.detect_batch([frame.image for frame in readable]))
        for frame in batch:
            yield FrameResult(frame, next(found) if frame.image is not None else None)
        if stop:
            return


class _SinkRunner:
    """Hands results to the sinks, on a writer thread or in line."""

    def __init__(self, sinks: Sequence[Sink], threaded: bool) -> None:
        self.sinks = list(sinks)
        self.error: BaseException | None = None
        self.queue: queue.Queue | None = None
        self.thread: threading.Thread | None = None
        if threaded and self.sinks:
            self.queue = queue.Queue(maxsize=16)
            self.thread = threading.Thread(target=self._work, name="sinks", daemon=True)
            self.thread.start()

    def put(self, result: FrameResult) -> None:
        if self.error is not None:
            raise self.error
        if self.queue is None:
            self._write(result)
        else:
            self.queue.put(result)

    def _write(self, result: FrameResult) -> None:
        for sink in self.sinks:
            sink.write(result)

    def _work(self) -> None:
        assert self.queue is not None
        while True:
            result = self.queue.get()
            if result is None:
                return
            if self.error is None:
                try:
                    self._write(result)
                except BaseException as exc:  # re-raised in the main thread
                    self.error = exc

    def close(self, failed: bool = False) -> None:
        if self.thread is not None and self.queue is not None:
            self.queue.put(None)
            self.thread.join()
            self.thread = None
        if self.error is not None and not failed:
            raise self.error
