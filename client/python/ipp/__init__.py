"""ipp — IPython Parallel's client API on the ipp task service.

    import ipp
    rc = ipp.Client()                 # the default profile under $IPP_DIR
    dview = rc[:]                     # a DirectView on every engine
    lview = rc.load_balanced_view()
    dview.apply_sync(os.getpid)
    lview.map_sync(is_prime, range(100))

Calls become Python tasks (docs/PYTHON.md) that ipp records, schedules,
retries and keeps: any client can fetch a result later by msg_id.
"""

import cloudpickle as _cloudpickle

from . import _ipp
from . import error
from . import _remote
from . import dependency as _dependency
from .error import (CompositeError, DependencyTimeout, EngineError, ImpossibleDependency,
                    RemoteError, TaskAborted, TimeoutError, UnmetDependency)
from .asyncresult import AsyncHubResult, AsyncMapResult, AsyncResult
from .client import Client
from .cluster import Cluster
from .dependency import Dependency, depend, require
from .view import DirectView, LoadBalancedView, ViewExecutor

error._install()

# Engines need not have this package: what its pickles reference travels by value.
for _m in (_remote, _dependency, error):
    _cloudpickle.register_pickle_by_value(_m)
del _m

__version__ = _ipp.libipp_version

__all__ = [
    "Client", "Cluster", "DirectView", "LoadBalancedView", "ViewExecutor", "AsyncResult",
    "AsyncMapResult", "AsyncHubResult", "Dependency", "require", "depend", "error",
    "RemoteError", "CompositeError", "TimeoutError", "TaskAborted", "EngineError",
    "UnmetDependency", "ImpossibleDependency", "DependencyTimeout",
]


def _load_ipython_extension(ip):
    from . import magics

    magics.load_ipython_extension(ip)


load_ipython_extension = _load_ipython_extension
