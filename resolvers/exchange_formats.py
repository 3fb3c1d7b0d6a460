"""File formats of a data exchange: rows in, bytes out, one batch at a time (bounded memory).

CSV: UTF-8, a header row of item names, RFC 4180 quoting (``\\r\\n`` line ends), an empty field for
null. NDJSON: one JSON object per line, keys in item order, dates as ISO 8601, decimals as strings.
Parquet: only with the optional extra ``govshare[parquet]`` (pyarrow); one row group per batch, column
types from the catalog (decimals as strings).
"""

from __future__ import annotations

import csv
import importlib.util
import io
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, BinaryIO

import orjson

from govshare.core.errors import BadRequest

FORMATS = ("csv", "ndjson", "parquet")


def parquet_available() -> bool:
    return importlib.util.find_spec("pyarrow") is not None


def check_format(value: str) -> str:
    if value not in FORMATS:
        raise BadRequest(f"format {value!r} is not one of {', '.join(FORMATS)}", field="format",
                         accepted=list(FORMATS))
    if value == "parquet" and not parquet_available():
        raise BadRequest("PARQUET needs the optional extra govshare[parquet] (pyarrow), which this server does "
                         "not have; use CSV or NDJSON", field="format", accepted=["csv", "ndjson"])
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(type(value).__name__)


def _text(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


class Encoder:
    """Writes batches of rows (tuples in column order) to a binary file."""

    def __init__(self, out: BinaryIO, columns: Sequence[str]) -> None:
        self.out = out
        self.columns = list(columns)

    def begin(self) -> bytes:
        return b""

    def batch(self, rows: Sequence[Sequence[Any]]) -> bytes:
        raise NotImplementedError

    def end(self) -> bytes:
        return b""


class CsvEncoder(Encoder):
    def begin(self) -> bytes:
        return self.batch([self.columns])

    def batch(self, rows: Sequence[Sequence[Any]]) -> bytes:
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerows([_text(v) for v in row] for row in rows)
        return text.getvalue().encode("utf-8")


class NdjsonEncoder(Encoder):
    def batch(self, rows: Sequence[Sequence[Any]]) -> bytes:
        columns = self.columns
        return b"".join(orjson.dumps(dict(zip(columns, row, strict=True)), default=_json_default) + b"\n"
                        for row in rows)


class ParquetEncoder(Encoder):
    """Writes through pyarrow's ParquetWriter into the file itself (returns no bytes of its own); the
    schema comes from the items' catalog types, so a batch of nulls cannot change it."""

    def __init__(self, out: BinaryIO, columns: Sequence[str], types: Sequence[str]) -> None:
        super().__init__(out, columns)
        import pyarrow as pa  # type: ignore[import-untyped,import-not-found,unused-ignore]  # optional extra

        arrow = {"date": pa.date32(), "datetime": pa.timestamp("us", tz="UTC"), "integer": pa.int64(),
                 "boolean": pa.bool_()}
        self._pa = pa
        self._decimal = [t == "decimal" for t in types]
        self._schema = pa.schema([(name, arrow.get(t, pa.string())) for name, t in zip(columns, types, strict=True)])
        self._writer: Any = None

    def batch(self, rows: Sequence[Sequence[Any]]) -> bytes:
        import pyarrow.parquet as pq  # type: ignore[import-untyped,import-not-found,unused-ignore]

        columns = [[str(row[i]) if self._decimal[i] and row[i] is not None else row[i] for row in rows]
                   for i in range(len(self.columns))]
        table = self._pa.Table.from_arrays([self._pa.array(c, type=f.type) for c, f in zip(columns, self._schema,
                                                                                         strict=True)],
                                           schema=self._schema)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.out, self._schema)
        self._writer.write_table(table)
        return b""

    def end(self) -> bytes:
        if self._writer is None:  # no rows: still a valid file with the schema
            import pyarrow.parquet as pq  # type: ignore[import-untyped,import-not-found,unused-ignore]

            self._writer = pq.ParquetWriter(self.out, self._schema)
        self._writer.close()
        return b""


def encoder(fmt: str, out: BinaryIO, columns: Sequence[str], types: Sequence[str]) -> Encoder:
    """``types``: the items' catalog data types (string, date, datetime, decimal, integer, boolean)."""
    if fmt == "csv":
        return CsvEncoder(out, columns)
    if fmt == "ndjson":
        return NdjsonEncoder(out, columns)
    return ParquetEncoder(out, columns, types)
