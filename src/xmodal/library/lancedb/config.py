"""Options of the LanceDB backend."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LanceStoreConfig:
    """Options of the LanceDB backend."""

    index_threshold: int = 4096
    """A space gets an ANN index from this many vectors on (exact search below)."""
    partition_rows: int = 4096
    """Target vectors per IVF partition."""
    recall_target: float = 0.97
    """recall@10 the calibrated search parameters must reach (against exact search)."""
    calibration_queries: int = 64
    """Queries used to calibrate an index."""
    orphan_grace_s: float = 600.0
    """Unreferenced segment rows younger than this are left alone (a writer may be mid-batch)."""
    read_consistency_s: float | None = 1.0
    """How stale this handle's view of other processes' writes may get (None: never refresh)."""
    compact_every: int = 256
    """Compact the tables after this many write batches (0: only in optimize())."""
    prune_after_s: float = 3600.0
    """optimize() deletes the files of table versions older than this."""

    def __post_init__(self) -> None:
        if self.index_threshold < 256:
            raise ValueError("index_threshold must be >= 256 (IVF training needs data)")
        if self.partition_rows < 256:
            raise ValueError("partition_rows must be >= 256")
        if not 0.0 < self.recall_target <= 1.0:
            raise ValueError("recall_target must be in (0, 1]")
        if self.calibration_queries < 1:
            raise ValueError("calibration_queries must be >= 1")
        if self.orphan_grace_s < 0 or self.prune_after_s < 0 or self.compact_every < 0:
            raise ValueError("orphan_grace_s, prune_after_s and compact_every must be >= 0")
        if self.read_consistency_s is not None and self.read_consistency_s < 0:
            raise ValueError("read_consistency_s must be >= 0 or None")
