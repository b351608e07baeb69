"""Calibrating the PostgreSQL library's HNSW search: ``hnsw.ef_search`` per space.

HNSW and GIN indexes are maintained by PostgreSQL on every write; what is tuned here is how
wide a search looks (:func:`calibrate_ef_search`), using the shared calibration queries
(:mod:`xmodal.library.calibration`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from xmodal.library.calibration import calibrate, calibration_queries
from xmodal.library.columns import space_column
from xmodal.library.postgres.config import PostgresStoreConfig
from xmodal.library.postgres.schema import table


def calibrate_ef_search(
    tx: Callable[[], Any], schema: str, space: str, n: int, config: PostgresStoreConfig
) -> dict[str, Any]:
    """The cheapest HNSW ``ef_search`` whose recall@10 reaches ``config.recall_target`` on
    queries made from the space's own vectors (answered exactly by a sequential scan)."""
    from psycopg import sql

    col = sql.Identifier(space_column(space))
    seg = table(schema, "segments")
    with tx() as cur:
        cur.execute(
            sql.SQL(
                "SELECT {col} FROM {seg} WHERE {col} IS NOT NULL "
                "ORDER BY md5(entry_id || ':' || idx) LIMIT %s"
            ).format(col=col, seg=seg),
            (config.calibration_queries,),
        )
        seeds = np.stack([r[0].to_numpy() for r in cur.fetchall()])
    queries = calibration_queries(seeds)  # (Q, D)
    nearest = sql.SQL(
        "SELECT entry_id, idx FROM {seg} WHERE {col} IS NOT NULL ORDER BY {col} <=> %s LIMIT 10"
    ).format(col=col, seg=seg)

    def search(ef: int | None, i: int) -> set[tuple[str, int]]:
        with tx() as cur:
            if ef is None:  # exact: no index scan
                cur.execute("SET LOCAL enable_indexscan = off")
            else:  # through HNSW, even where the planner would rather scan and sort
                cur.execute("SET LOCAL enable_seqscan = off")
                cur.execute("SET LOCAL enable_sort = off")
                cur.execute(sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(ef)))
            cur.execute(nearest, (queries[i],), prepare=False)  # plan under these settings
            return set(cur.fetchall())

    truth = [search(None, i) for i in range(len(queries))]
    ladder = [40, 80, 160, 320, 640, 1000]
    ef, recall = calibrate(ladder, truth, search, config.recall_target)
    return {"rows": n, "ef_search": ef, "calibrated_recall_at_10": recall}
