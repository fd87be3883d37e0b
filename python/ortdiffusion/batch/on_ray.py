"""The same rows on Ray Data (the [ray] extra): the validated rows become a dataset of one row per block,
``map_batches`` runs them on a pool of actors (a callable class holding one :class:`RowRunner`, so each actor loads
its pipelines once), each actor asking for as many CPUs as ONNX Runtime threads it runs. Actors write the
pictures and records into the output folder themselves, which must therefore be shared storage every node
mounts at the same path. A failed actor is restarted and its row retried (Ray Data's actor retries); a retried
row rewrites its own picture and record, so no row is lost or duplicated. The prompt file is read and
validated by the driver, with the local path's code, so both report the same bad rows the same way (Ray's
readers infer one type per column and would reject the whole file for one bad cell)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ortdiffusion.batch.outputs import completed_record
from ortdiffusion.batch.rows import BatchRow
from ortdiffusion.batch.runner import BatchOptions, RowRunner, row_fingerprint

logger = logging.getLogger(__name__)


class RowActor:
    """The callable class of ``map_batches``: one RowRunner per actor, rows in, records (JSON) out."""

    def __init__(self, out: str, options: dict[str, Any], loras: list[str], fail_fast: bool) -> None:
        import ray

        self.out = Path(out)
        self.fail_fast = fail_fast
        self.runner = RowRunner(self.out, BatchOptions(**options), loras, node=ray.get_runtime_context().get_node_id())

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        """Run the batch's rows (usually one); a row finished before a retry is not run again."""
        records = []
        for text in batch["row"]:
            row = BatchRow.from_dict(json.loads(text))
            record = completed_record(self.out, row.id, row_fingerprint(row, self.runner.options)) or self.runner.run(row)
            records.append(json.dumps(record))  # a failed row too: the driver stops the run for fail-fast
        return {"record": records}


def run_on_ray(rows: list[BatchRow], out: Path, options: BatchOptions, loras: list[str],
               done: Callable[[dict[str, Any]], bool], address: str | None, workers: int | None,
               fail_fast: bool) -> None:
    """Run ``rows`` on the Ray cluster at ``address`` (None: the one this process is connected to, else
    ``RAY_ADDRESS`` or a new local one) with ``workers`` actors (None: as many as the cluster's CPUs allow at
    ``options.threads`` each); ``done(record)`` is told of each row as it finishes."""
    try:
        import ray
        import ray.data  # (configures its loggers when imported: before the level is set below)
    except ImportError:
        raise ValueError("--ray needs Ray: pip install 'ortdiffusion[ray]'") from None
    if not rows:
        return
    started = not ray.is_initialized()
    if not started and address:
        logger.warning("already connected to a Ray cluster: address %s is not used", address)
    if started:
        ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
    data_logger = logging.getLogger("ray.data")  # its per-dataset INFO lines would break the progress line
    data_level = data_logger.level
    data_logger.setLevel(logging.ERROR)
    try:
        threads = options.threads or 1
        options = BatchOptions(**{**options.__dict__, "threads": threads})
        if workers is None:
            workers = max(1, int(ray.cluster_resources().get("CPU", 1) // threads))
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the batch's own progress line counts rows
        dataset = ray.data.from_items([{"row": json.dumps(row.to_dict())} for row in rows],
                                      override_num_blocks=max(1, len(rows)))
        results = dataset.map_batches(
            RowActor, fn_constructor_kwargs={"out": str(out), "options": options.__dict__, "loras": loras,
                                             "fail_fast": fail_fast},
            batch_size=1, num_cpus=threads,
            # a fixed pool; two rows in flight per actor hide the scheduling gap between rows. Ray Data restarts a
            # dead actor and retries its rows (max_restarts / max_task_retries default to -1 for actor pools)
            compute=ray.data.ActorPoolStrategy(size=workers, max_tasks_in_flight_per_actor=2),
        )
        seen = set()
        for item in results.iter_rows():
            record = json.loads(item["record"])
            if record["id"] in seen:  # a re-executed task (lineage reconstruction): told once
                continue
            seen.add(record["id"])
            if not done(record):
                return
    finally:
        data_logger.setLevel(data_level)
        if started:
            ray.shutdown()
