"""Wires the library's Postgres persistence to Stratum's table, mapper and recorder."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import ApplicationRecorder, Mapper, Transcoder
from eventsourcing.postgres import PostgresFactory

from stratum.infrastructure.postgres.mapper import StratumMapper
from stratum.infrastructure.postgres.recorder import EVENT_TABLE, StratumRecorder

# Read by the factory from the application's env (set in bootstrap, never os.environ).
LOCK_TIMEOUT = "STRATUM_LOCK_TIMEOUT"
GROUP_COMMIT = "STRATUM_GROUP_COMMIT"


class StratumFactory(PostgresFactory):
    def __init__(self, env: Any) -> None:
        super().__init__(env)
        self._recorders: list[StratumRecorder] = []
        lock_timeout = float(self.env.get(LOCK_TIMEOUT) or "5")
        # Every connection of the pool gets the timeouts, not just the recorder's
        # statements: a stuck lock or an abandoned transaction must fail fast.
        kwargs = self.datastore.pool.kwargs
        assert isinstance(kwargs, dict)
        kwargs["options"] = (
            f"-c lock_timeout={int(lock_timeout * 1000)}"
            f" -c idle_in_transaction_session_timeout="
            f"{int(self.datastore.idle_in_transaction_session_timeout * 1000)}"
        )

    def mapper(
        self, transcoder: Transcoder | None = None, mapper_class: Any = None
    ) -> Mapper[Any]:
        return StratumMapper(
            transcoder=transcoder or self.transcoder(),
            cipher=self.cipher(),
            compressor=self.compressor(),
        )

    def application_recorder(self) -> ApplicationRecorder:
        recorder_class: type[StratumRecorder] = type(
            "ConfiguredStratumRecorder",
            (StratumRecorder,),
            {
                "lock_timeout_seconds": float(self.env.get(LOCK_TIMEOUT) or "5"),
                "group_commit": (self.env.get(GROUP_COMMIT) or "y").lower() in ("y", "yes", "1", "true"),
            },
        )
        recorder = recorder_class(datastore=self.datastore, events_table_name=EVENT_TABLE)
        if self.env_create_table():
            recorder.create_table()
        self._recorders.append(recorder)
        return recorder

    def close(self) -> None:
        # A recorder holds a pooled connection for appends: return it before the
        # pool closes (the pool does not close connections that are out).
        for recorder in self._recorders:
            recorder.release_connection()
        super().close()
