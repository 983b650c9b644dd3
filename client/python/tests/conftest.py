"""Fixtures: one real cluster per test session (`ipp cluster start -n 2`
in a temporary $IPP_DIR, on 127.0.0.1 with ports the controller picks),
stopped at the end; a fresh Client per test.

Tests that need Python on the engines take the `py` fixture: it asks an
engine to run py.apply once and skips, naming the missing plugin, when the
engine says it has no such function. Nothing else is skipped.
"""

import os
import shutil
import tempfile

import pytest

import ipp


@pytest.fixture(scope="session")
def cluster():
    d = tempfile.mkdtemp(prefix="ipp-pytest-")
    os.chmod(d, 0o700)
    # The daemons are programs of their own: a sanitizer runtime preloaded
    # for this interpreter must not follow them.
    c = ipp.Cluster(n=2, ipp_dir=d, profile="pytest", timeout=60, env={"LD_PRELOAD": None})
    c.start_cluster_sync()
    try:
        yield c
    finally:
        try:
            c.stop_cluster_sync()
        finally:
            shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def rc(cluster):
    c = ipp.Client(profile=cluster.profile, ipp_dir=cluster.ipp_dir)
    c.wait_for_engines(2, timeout=30)
    try:
        yield c
    finally:
        c.close()


_probe = {}


@pytest.fixture
def py(rc):
    """rc, when the engines can run Python tasks; else a skip saying why."""
    if "why" not in _probe:
        try:
            rc[rc.ids[0]].apply_sync(int)
            _probe["why"] = None
        except ipp.RemoteError as e:
            if "py.apply" in str(e.evalue):
                _probe["why"] = ("the engines cannot run Python tasks: the engine's Python "
                                 f"plugin (engine/python, py.apply) is missing: {e.evalue}")
            else:
                raise
    if _probe["why"]:
        pytest.skip(_probe["why"])
    rc[:].clear(block=True)
    return rc


def pytest_collection_modifyitems(session, config, items):
    # The engines cannot import the test modules: functions defined in them
    # travel by value, as functions of an interactive __main__ do.
    import cloudpickle
    import sys

    for m in {item.module for item in items if getattr(item, "module", None)}:
        if m.__name__ in sys.modules:
            cloudpickle.register_pickle_by_value(m)
