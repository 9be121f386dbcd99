"""The cluster side of `gridlens eval --scheduler`: a Python process that owns the
`distributed.Client`, spoken to over a pipe, so that the gridlens binary never links
libpython. The binary runs `python -m gridlens.sidecar` and

- writes one JSON line on its stdin: {"expr": ..., "inputs": [[name, source], ...],
  "scheduler": ADDRESS or null, "scheduler_file": PATH or null, "order": [block, ...] or
  null (the output blocks' linear indices in the order wanted; default C order),
  "window": N or null (output blocks in flight; default twice the cluster's threads)};
  then a line "cancel", or the end of stdin, cancels the job;
- reads JSON lines from its stdout, each an event; a "block" event is followed by its
  `nbytes` bytes (the block's elements in C order, native byte order):
    {"event": "connected", "scheduler": ..., "workers": [{"address", "nthreads", "memory"}],
     "tasks": N, "blocks": M}
    {"event": "block", "index": K, "nbytes": ..., "worker": ..., "thread": ..., "start": S, "stop": S}
    {"event": "done"} | {"event": "cancelled"} | {"event": "error", "message": "..."}

Output blocks are submitted in the order asked, a bounded window at a time (Dask cannot
reprioritise submitted tasks; the window lets the next ones follow the order). A piece that
several output blocks read (a finished mean under an anomaly) is held until the last of them
has been submitted, so it is computed once.
"""

import json
import os
import sys
import threading
import time


def _send(out, event, payload=None):
    if payload is not None:
        event = dict(event, nbytes=len(payload))
    out.write((json.dumps(event) + "\n").encode())
    if payload is not None:
        out.write(payload)
    out.flush()


def _output_with_span(expr, inputs, index, given, shape, dtype):
    """An output block as bytes, with where and when it was computed."""
    from . import _on_worker, _opened, _worker_address

    start = time.time()
    data = _on_worker(lambda: _opened(expr, inputs).piece(index, given, True))
    return data, (_worker_address() or "local", threading.get_ident(), start, time.time())


def run(request, out, cancelled):
    from distributed import Client, as_completed

    import gridlens as gl

    where = where_of(request)
    # seconds to wait for the scheduler (dask's own default)
    timeout = float(os.environ.get("GRIDLENS_CONNECT_TIMEOUT", "30"))
    try:
        if request.get("scheduler"):
            client = Client(request["scheduler"], timeout=timeout)
        else:
            client = Client(scheduler_file=request["scheduler_file"], timeout=timeout)
    except Exception as e:
        _send(out, {"event": "error", "message": f"cannot reach the Dask scheduler at {where}: {e}"})
        return 1
    try:
        return _compute(gl, client, as_completed, request, out, cancelled)
    finally:
        client.close()


def _compute(gl, client, as_completed, request, out, cancelled):
    try:
        array = gl.evaluate(request["expr"], **{name: source for name, source in request["inputs"]})
        graph, _, keys = array._graph(_output_with_span)
        pieces = array._lazy.pieces()
    except gl.GridlensError as e:
        _send(out, {"event": "error", "message": str(e)})
        return 1
    info = client.scheduler_info()
    workers = [
        {"address": a, "nthreads": w.get("nthreads", 1), "memory": w.get("memory_limit", 0)} for a, w in info["workers"].items()
    ]
    if not workers:
        _send(out, {"event": "error", "message": f"the Dask cluster at {where_of(request)} has no workers"})
        return 1
    outputs = {o: i for i, (_, o) in enumerate(pieces) if o is not None}
    order = [outputs[k] for k in (request.get("order") or sorted(outputs))]
    _send(out, {"event": "connected", "scheduler": info.get("address"), "workers": workers, "tasks": len(pieces), "blocks": len(order)})

    # the first and last position in `order` of an output that needs each piece
    n = len(pieces)
    first, last = [len(order)] * n, [-1] * n
    for pos, i in enumerate(order):
        first[i] = last[i] = pos
    for i in reversed(range(n)):
        for d in pieces[i][0]:
            first[d] = min(first[d], first[i])
            last[d] = max(last[d], last[i])
    held = {}  # piece -> the future that keeps its value on the cluster
    release_at = {}  # position -> pieces to let go once it is submitted

    def task_of(i, sub):
        """Piece `i`'s task with what it needs added to `sub`, held pieces as their futures;
        returns the pieces added."""
        added, stack = [], [i]
        while stack:
            j = stack.pop()
            if keys[j] in sub:
                continue
            task = graph[keys[j]]
            deps = pieces[j][0]
            given = [held[d] if d in held else keys[d] for d in deps]
            sub[keys[j]] = task[:4] + (given,) + task[5:]
            added.append(j)
            stack.extend(d for d in deps if d not in held)
        return added

    ac = as_completed()
    inflight = set()

    def submit(pos):
        i = order[pos]
        sub = {}
        added = task_of(i, sub)
        # pieces first needed here and needed by later outputs too: held until their last
        shared = [d for d in added if first[d] == pos and last[d] > pos]
        futures = client.get(sub, [keys[i]] + [keys[d] for d in shared], sync=False)
        for d, f in zip(shared, futures[1:]):
            held[d] = f
            release_at.setdefault(last[d], []).append(d)
        for d in release_at.pop(pos, []):
            held.pop(d, None)
        ac.add(futures[0])
        inflight.add(futures[0])

    window = request.get("window") or max(4, 2 * sum(w["nthreads"] for w in workers))
    next_pos = 0
    while next_pos < len(order) and len(inflight) < window:
        submit(next_pos)
        next_pos += 1
    blocks = {i: k for k, i in outputs.items()}
    piece_of = {key: i for i, key in enumerate(keys)}
    done = 0
    watcher = threading.Thread(target=_cancel_on, args=(cancelled, client, inflight, held), daemon=True)
    watcher.start()
    for future in ac:
        inflight.discard(future)
        if cancelled.is_set():
            break
        try:
            data, (worker, thread, start, stop) = future.result()
        except Exception as e:
            if cancelled.is_set():
                break
            _send(out, {"event": "error", "message": str(e) or type(e).__name__})
            client.cancel(list(inflight) + list(held.values()))
            return 1
        piece = piece_of[future.key]
        _send(out, {"event": "block", "index": blocks[piece], "worker": worker, "thread": thread, "start": start, "stop": stop}, data)
        done += 1
        del future, data
        while next_pos < len(order) and len(inflight) < window and not cancelled.is_set():
            submit(next_pos)
            next_pos += 1
    if cancelled.is_set() or done < len(order):
        client.cancel(list(inflight) + list(held.values()))
        _send(out, {"event": "cancelled"})
        return 2
    _send(out, {"event": "done"})
    return 0


def where_of(request):
    return request.get("scheduler") or request.get("scheduler_file")


def _cancel_on(cancelled, client, inflight, held):
    cancelled.wait()
    try:
        client.cancel(list(inflight) + list(held.values()))
    except Exception:
        pass


def _watch_stdin(stdin, cancelled):
    """A line "cancel", or the end of stdin (the caller is gone), cancels the job."""
    for line in stdin:
        if line.strip() == b"cancel":
            break
    cancelled.set()


def main():
    out = sys.stdout.buffer
    # nothing but events may reach stdout: prints of libraries go to stderr
    sys.stdout = sys.stderr
    line = sys.stdin.buffer.readline()
    try:
        request = json.loads(line)
    except ValueError:
        _send(out, {"event": "error", "message": "the sidecar's request is not a JSON line"})
        return 1
    try:
        import distributed  # noqa: F401
    except ImportError:
        _send(out, {"event": "error", "message": f"the Python at {sys.executable} lacks distributed: pip install distributed"})
        return 1
    cancelled = threading.Event()
    threading.Thread(target=_watch_stdin, args=(sys.stdin.buffer, cancelled), daemon=True).start()
    return run(request, out, cancelled)


if __name__ == "__main__":
    sys.exit(main())
