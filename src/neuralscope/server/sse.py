"""Live updates by Server-Sent Events.

One :class:`Broadcaster` per app polls the runs directory every ``interval`` seconds: a
cheap ``stat`` of each run's database and WAL file tells which runs changed; only those are
read. It then pushes, to every connected client, the same pre-serialised messages:

* ``runs``     the run list (ids, status) when a run appears, disappears or changes status;
* ``run``      the summary of a changed run (status, last values, series names);
* ``scalars``  the points appended to a scalar series since the last poll, as the
  :meth:`~neuralscope.track.results.ScalarSeries.to_dict` of those points (``name`` the
  series, ``run``, ``steps``, ``values``, ``walls``, ``total`` the points logged so far),
  or ``{"name", "run", "total", "reset": true}`` when more than :data:`MAX_PUSH` arrived at
  once or the run was replaced (the client then re-queries the downsampled series);
* ``changed``  histograms, images, results or diagnostics of a run may have changed.

Points are tracked by position in the series (the store appends in logging order), so a
step that goes backwards is still pushed exactly once.
"""
from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from starlette.requests import Request
from starlette.responses import StreamingResponse

from ..result import jsonable
from ..track.results import ScalarSeries
from .api import run_summary
from .runs import RunEntry, RunIndex, _stamp

MAX_PUSH = 100_000 # points of one series in one message; more -> the client re-queries
QUEUE_SIZE = 256   # messages buffered per client before it is told to resynchronise


def sse_message(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(jsonable(data), separators=(',', ':'))}\n\n"


class Broadcaster:
    """Polls the store and fans new data out to every subscribed client."""

    def __init__(self, index: RunIndex | None, interval: float = 0.5):
        self.index = index
        self.interval = interval
        self.subscribers: set[asyncio.Queue] = set()
        self._stamps: dict[str, tuple] = {}
        self._pos: dict[tuple[str, str], int] = {}  # (run, tag) -> points already pushed
        self._status: dict[str, str] = {}
        self._task: asyncio.Task | None = None
        self._lock = threading.Lock()
        self.polls = 0

    # lifecycle
    def start(self) -> None:
        if self.index is not None and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping: the task's own error was reported
                pass
            self._task = None
        self.end_streams()

    def end_streams(self) -> None:
        """End every client's event stream (its next message is the end), so that a server
        shutting down has no open response to wait for. Call on the server's event loop."""
        for q in list(self.subscribers):
            while q.full():
                q.get_nowait()
            q.put_nowait(None)

    def subscribe(self) -> asyncio.Queue:
        q: asyncio.Queue = asyncio.Queue(QUEUE_SIZE)
        self.subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue) -> None:
        self.subscribers.discard(q)

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                messages = await loop.run_in_executor(None, self.poll)
            except Exception:  # noqa: BLE001 - a failing poll must not end live updates
                messages = []
            for q in list(self.subscribers):
                for m in messages:
                    try:
                        q.put_nowait(m)
                    except asyncio.QueueFull:  # a slow client: tell it to reload what it shows
                        while not q.empty():
                            q.get_nowait()
                        q.put_nowait(sse_message("hello", {"resync": True}))
                        break
            await asyncio.sleep(self.interval)

    # polling (runs in a worker thread)
    def poll(self, first: bool = False) -> list[str]:
        """Messages describing what changed since the last poll (``first`` only records)."""
        with self._lock:
            self.polls += 1
            out: list[str] = []
            entries = self.index.entries()
            ids = {e.id for e in entries}
            runs_changed = ids != set(self._stamps)
            for gone in set(self._stamps) - ids:
                self._stamps.pop(gone, None)
                self._status.pop(gone, None)
            for entry in entries:
                stamp = _stamp(entry.path)
                if self._stamps.get(entry.id) == stamp:
                    continue
                self._stamps[entry.id] = stamp
                summary = run_summary(entry)
                if self._status.get(entry.id) != summary["status"]:
                    runs_changed = True
                self._status[entry.id] = summary["status"]
                if first:
                    self._record(entry, summary)
                    continue
                out.append(sse_message("run", summary))
                out.extend(self._new_points(entry, summary))
                out.append(sse_message("changed", {"run": entry.id}))
            if runs_changed and not first:
                out.insert(0, sse_message("runs", {"runs": [{"id": e.id, "status": self._status.get(e.id)}
                                                            for e in entries]}))
            return out

    def _record(self, entry: RunEntry, summary: dict) -> None:
        for tag in summary["series"].get("scalar", []):
            self._pos[(entry.id, tag)] = entry.call(lambda r, tag=tag: r.scalar_count(tag))

    def _advance(self, entry: RunEntry, tag: str):
        """The points of ``tag`` appended since the last poll (the store's
        :meth:`~neuralscope.track.store.RunReader.scalars_since`), with ``reset`` set when
        the series is not the one followed so far (the run was replaced)."""
        key = (entry.id, tag)
        pos = self._pos.get(key, 0)
        t = entry.call(lambda r: r.scalars_since(tag, pos))
        self._pos[key] = t.position
        return t, t.start != pos

    def _new_points(self, entry: RunEntry, summary: dict) -> list[str]:
        out = []
        if entry.damaged is not None:
            return out
        for tag in summary["series"].get("scalar", []):
            try:
                pts, replaced = self._advance(entry, tag)
            except Exception:  # noqa: BLE001 - a series that cannot be read now is retried next poll
                continue
            if len(pts.steps) == 0 and not replaced:
                continue
            total = pts.position
            if len(pts.steps) > MAX_PUSH or replaced:
                out.append(sse_message("scalars", {"name": tag, "run": entry.id, "total": total, "reset": True}))
            else:
                new = ScalarSeries(tag, pts[0], pts[1], pts[2], total=total, run=entry.id)
                out.append(sse_message("scalars", new.to_dict()))
        return out


async def events(request: Request) -> StreamingResponse:
    """``GET /api/events``: the Server-Sent Events stream of live updates."""
    bc: Broadcaster = request.app.state.ns.broadcaster
    queue = bc.subscribe()
    heartbeat = request.app.state.ns.heartbeat

    async def stream():
        try:
            yield "retry: 1000\n\n" + sse_message("hello", {"resync": False})
            while True:
                try:
                    msg = await asyncio.wait_for(queue.get(), heartbeat)
                except asyncio.TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if msg is None:
                    return
                yield msg
        finally:
            bc.unsubscribe(queue)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
