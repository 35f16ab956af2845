"""A Great Expectations SQL datasource that works on DuckDB.

GX 1.24's ``SqlAlchemyExecutionEngine.execute_query`` returns its result after closing the
connection it ran on; duckdb-engine drops rows that were not read by then, and metrics fail with
``list index out of range`` (GX issues #10738, #11579). This engine buffers the rows before the
connection closes. Importing this module registers the datasource type ``duckdb``, which
``gx/great_expectations.yml`` uses.
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy
from great_expectations.datasource.fluent import SQLDatasource
from great_expectations.execution_engine import SqlAlchemyExecutionEngine


class BufferedSqlAlchemyExecutionEngine(SqlAlchemyExecutionEngine):
    """Reads every row of a query before its connection goes back to the pool."""

    def execute_query(self, query: Any) -> sqlalchemy.Result[Any]:
        with self.get_connection() as connection:
            return self._execute_query_with_recovery(connection, query).freeze()()


class DuckDBDatasource(SQLDatasource):
    """``type: duckdb`` in a GX config: a SQL datasource with the buffered engine."""

    type: Literal["duckdb"] = "duckdb"  # type: ignore[assignment]
    execution_engine_override = BufferedSqlAlchemyExecutionEngine
