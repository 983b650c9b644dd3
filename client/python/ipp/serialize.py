"""ipp.serialize — the wire formats of docs/PYTHON.md.

Every pickle is protocol 5 with a buffer_callback: numpy arrays,
memoryviews, PickleBuffers and large bytes travel as their own message
buffers after the pickle, never inside it, so they are sent without a
copy (the C layer lends them to ZeroMQ). Results are unpickled over the
received frames (read-only memoryviews), again without a copy.
"""

import io
import pickle

import cloudpickle

# Bytes objects at least this long go out of band (smaller ones are
# cheaper inside the pickle than as a frame of their own).
OOB_BYTES = 64 * 1024


class _Pickler(cloudpickle.Pickler):
    """cloudpickle, plus large bytes and every memoryview out of band."""

    def reducer_override(self, obj):
        t = type(obj)
        if t is bytes and len(obj) >= OOB_BYTES:
            return bytes, (pickle.PickleBuffer(obj),)
        if t is memoryview:
            return memoryview, (pickle.PickleBuffer(obj),)
        return super().reducer_override(obj)


def _dump(obj, pickler_cls):
    bufs = []
    f = io.BytesIO()
    pickler_cls(f, protocol=5, buffer_callback=bufs.append).dump(obj)
    out = [f.getbuffer()]
    for b in bufs:
        out.append(b.raw())
    return out


def dumps(obj):
    """obj (any value cloudpickle handles) as [pickle, buffer, …]."""
    return _dump(obj, _Pickler)


def pack_apply(f, args, kwargs):
    """py.apply's argument buffers for f(*args, **kwargs)."""
    return _dump((f, tuple(args), dict(kwargs)), _Pickler)


def loads(bufs):
    """The value of [pickle, buffer, …] (buffers read-only, not copied)."""
    if not bufs:
        return None
    return pickle.loads(bufs[0], buffers=bufs[1:])
