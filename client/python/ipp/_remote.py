"""ipp._remote — the few helpers the client sends to engines inside its pickles.

Engines need not have the ipp package installed, so this module is
pickled by value (cloudpickle.register_pickle_by_value): each helper
travels with the task that uses it. Keep them small and self-contained.
"""


def map_chunk(f, *seqs):
    """Run f over a chunk of a map's items; the chunk's results as a list."""
    return list(map(f, *seqs))


def call_chunk(f, *parts):
    """A parallel function's call on one engine's part of the sequences."""
    return f(*parts)
