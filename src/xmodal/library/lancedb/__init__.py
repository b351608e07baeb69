"""The embedded library backend: LanceDB tables in a directory, no server.

:mod:`~xmodal.library.lancedb.store` holds the store (crash-safe writes, search), its tables are
described in :mod:`~xmodal.library.lancedb.schema`, its indexes and their calibration in
:mod:`~xmodal.library.lancedb.index`. The ``lancedb`` package itself loads when a store opens.
"""

from xmodal.library.lancedb.config import LanceStoreConfig
from xmodal.library.lancedb.store import LanceStore

__all__ = ["LanceStore", "LanceStoreConfig"]
