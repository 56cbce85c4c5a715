"""C-FIND SCU results kept for /queries/{id}, in the database so that every process of one
archive answers them (Orthanc keeps them in its memory, `QueryRetrieveSize` of them)."""

from __future__ import annotations

import io
import uuid
from typing import Any

import attrs
from psycopg.types.json import Jsonb
from pydicom import Dataset
from pynetdicom.dsutils import decode, encode

from adapters.database import Database

MAX_QUERIES = 100  # Orthanc's QueryRetrieveSize


@attrs.define
class QueryResult:
    modality: str
    level: str
    query: dict[str, Any]  # the filter as the client gave it, in full tags (/query)
    answers: list[Dataset]


class QueryResults:
    def __init__(self, db: Database, limit: int = MAX_QUERIES) -> None:
        self.db = db
        self.limit = limit

    def add(self, result: QueryResult) -> str:
        """Keeps the result (and only the `limit` most recent ones); returns its ID."""
        query_id = str(uuid.uuid4())
        answers = [_encoded(answer) for answer in result.answers]
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO runtime.queries (id, modality, level, query, answers) "
                "VALUES (%s, %s, %s, %s, %s)",
                (query_id, result.modality, result.level, Jsonb(result.query), answers),
            )
            conn.execute(
                "DELETE FROM runtime.queries WHERE number <= "
                "(SELECT max(number) - %s FROM runtime.queries)",
                (self.limit,),
            )
        return query_id

    def get(self, query_id: str) -> QueryResult | None:
        with self.db.connection() as conn:
            row = conn.execute(
                "SELECT modality, level, query, answers FROM runtime.queries WHERE id = %s",
                (query_id,),
            ).fetchone()
        if row is None:
            return None
        modality, level, query, answers = row
        return QueryResult(modality, level, query, [_decoded(bytes(a)) for a in answers])

    def ids(self) -> list[str]:
        with self.db.connection() as conn:
            rows = conn.execute("SELECT id FROM runtime.queries ORDER BY number").fetchall()
        return [row[0] for row in rows]

    def remove(self, query_id: str) -> bool:
        with self.db.connection() as conn:
            cursor = conn.execute("DELETE FROM runtime.queries WHERE id = %s", (query_id,))
        return cursor.rowcount > 0


def _encoded(answer: Dataset) -> bytes:
    data = encode(answer, is_implicit_vr=False, is_little_endian=True)
    if data is None:
        raise ValueError("a C-FIND answer that cannot be encoded")
    return data


def _decoded(data: bytes) -> Dataset:
    return decode(io.BytesIO(data), is_implicit_vr=False, is_little_endian=True)
