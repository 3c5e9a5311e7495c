"""Exact KNN through the vec0 mirror in SQL (filters applied inside vec0, before the top-k)."""

from __future__ import annotations

import numpy as np

from ..db import fill, sql
from ..errors import UsageError
from .base import FILTER_COLUMNS, StoreBase

VEC0_MAX_K = StoreBase.max_k


class SqliteVecStore(StoreBase):
    backend = "sqlite-vec"

    def _knn(self, query: np.ndarray, k: int, filters: dict[str, str],
             exact: bool = False) -> tuple[list[int], list[float]]:  # vec0 is always exact
        if k > VEC0_MAX_K:
            raise UsageError(f"-k {k} is above sqlite-vec's limit of {VEC0_MAX_K}")
        clauses = "".join(f" AND v.{column} = :{column}" for column in FILTER_COLUMNS if column in filters)
        rows = self.conn.execute(fill(sql("knn"), filters=clauses),
                                 {"query": query.astype("<f4").tobytes(), "k": k, **filters}).fetchall()
        return [r[0] for r in rows], [r[1] for r in rows]
