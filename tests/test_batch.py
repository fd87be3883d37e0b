"""Batch generation (issue 20): a 16-row prompt file on the embedded model in this process, then on a two-node
local Ray cluster (each node with its own CPU, an actor on each): byte-identical pictures; an actor killed mid-run
still leaves every row exactly once; an interrupted local run, resumed, gives the same set; bad rows are reported
with their ids while the others finish."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ortdiffusion.batch import BatchFailed, batch
from ortdiffusion.batch.outputs import MANIFEST, RECORDS
from ortdiffusion.batch.rows import parse_rows, read_table
from ortdiffusion.batch.seeds import derived_seed
from ortdiffusion.png import read_parameters

ROWS = 16


def _rows(steps: int) -> list[dict]:
    """Every task and per-row field: text-to-image with and without seeds, a stochastic sampler, LoRAs,
    image-to-image, inpainting and ControlNet (the embedded model's variants)."""
    colours, shapes = ["red", "blue", "green", "yellow", "purple"], ["circle", "square", "triangle", "star", "cross"]
    rows = [{"id": f"r{k:02d}", "prompt": f"a {colours[k % 5]} {shapes[(k * 2) % 5]} on a white background",
             "steps": steps} for k in range(ROWS)]
    rows[1]["seed"] = 11
    rows[2].update(negative_prompt="blue", guidance=5.0)
    rows[3]["scheduler"] = "Euler a"
    rows[4]["scheduler"] = "DPM++ 2M Karras"
    rows[5]["loras"] = ["outline:0.8"]
    rows[6]["loras"] = [{"path": "complement", "weight": 0.6}, {"path": "outline", "weight": 0.3}]
    rows[7].update(image="init.png", strength=0.6)
    rows[8].update(image="init.png", mask="mask.png")
    rows[9].update(control_image="edges.png")
    return rows


def _write_inputs(folder: Path, steps: int, name: str = "prompts.jsonl") -> Path:
    from test_pipeline_parity import box_mask, scene

    folder.mkdir(parents=True, exist_ok=True)
    scene(64, 64, seed=1).save(folder / "init.png")
    box_mask(64, 64).save(folder / "mask.png")
    edges = np.zeros((64, 64, 3), np.uint8)
    edges[16:48, 16] = edges[16:48, 47] = edges[16, 16:48] = edges[47, 16:48] = 255
    Image.fromarray(edges).save(folder / "edges.png")
    path = folder / name
    path.write_text("".join(json.dumps(row) + "\n" for row in _rows(steps)), encoding="utf-8")
    return path


def _pictures(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.png"))}


def _manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / MANIFEST).read_text().splitlines()]


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """The 16 rows in this process with one ONNX Runtime thread (as each Ray actor runs): (prompt file, output)."""
    folder = tmp_path_factory.mktemp("batch-local")
    prompts = _write_inputs(folder, steps=6)
    report = batch(prompts, folder / "out", threads=1, progress=False)
    assert (report.rows, report.made, report.skipped, report.failed) == (ROWS, ROWS, 0, [])
    return prompts, folder / "out"


def test_local_batch_makes_every_row_with_its_parameters_and_resumes(local_run):
    prompts, out = local_run
    pictures = _pictures(out)
    assert sorted(pictures) == [f"r{k:02d}.png" for k in range(ROWS)]
    manifest = _manifest(out)
    assert [r["id"] for r in manifest] == [f"r{k:02d}" for k in range(ROWS)]
    assert all(r["error"] is None and r["file"] == f"{r['id']}.png" and r["seconds"] > 0 for r in manifest)
    params = {r["id"]: read_parameters(out / r["file"]) for r in manifest}
    assert params["r01"]["seed"] == 11 and params["r00"]["seed"] == derived_seed(0, "r00")
    assert params["r03"]["scheduler"] == "Euler a" and params["r04"]["scheduler"] == "DPM++ 2M Karras"
    own = {params[f"r{k:02d}"]["scheduler_class"] for k in (0, 1, 2, 5, 6, *range(10, ROWS))}
    assert own == {"DDIMScheduler"}, own  # rows without a sampler run the model's own, whatever ran before
    assert params["r05"]["loras"] == ["outline:0.8"]
    assert params["r07"]["pipeline"] == "StableDiffusionImg2ImgPipeline" and params["r07"]["strength"] == 0.6
    assert params["r08"]["pipeline"] == "StableDiffusionInpaintPipeline"
    assert params["r09"]["pipeline"] == "StableDiffusionControlNetPipeline"
    assert len({pictures[f"r{k:02d}.png"] for k in range(ROWS)}) == ROWS  # every row its own picture
    again = batch(prompts, out, threads=1, progress=False)  # resume: nothing left to do
    assert (again.made, again.skipped) == (0, ROWS)
    assert _pictures(out) == pictures


def test_seeds_follow_the_row_id_in_any_subset_and_every_format(tmp_path):
    """A row's derived seed depends on the batch seed and its id only; CSV and Parquet read as JSON Lines do."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    raw = [{"id": "b", "prompt": "x", "steps": 3}, {"id": "a", "prompt": "y", "seed": 5}, {"prompt": "z"}]
    rows, errors = parse_rows(raw, tmp_path, batch_seed=7)
    assert not errors and [r.seed for r in rows] == [derived_seed(7, "b"), 5, derived_seed(7, "row-00002")]
    subset, _ = parse_rows(raw[:1], tmp_path, batch_seed=7)
    assert subset[0].seed == rows[0].seed and derived_seed(8, "b") != rows[0].seed
    (tmp_path / "p.csv").write_text("id,prompt,steps,seed,loras\nb,x,3,,\na,y,,5,outline:0.5;complement\n")
    csv_rows, _ = parse_rows(read_table(tmp_path / "p.csv"), tmp_path, batch_seed=7)
    assert [(r.id, r.seed, r.steps) for r in csv_rows] == [("b", rows[0].seed, 3), ("a", 5, None)]
    assert csv_rows[1].loras == (("outline", 0.5), ("complement", 1.0))
    columns = {"id": ["b", "a"], "prompt": ["x", "y"], "steps": [3, None], "seed": [None, 5]}  # nulls as Parquet has them
    pq.write_table(pa.table(columns), tmp_path / "p.parquet")
    parquet_rows, _ = parse_rows(read_table(tmp_path / "p.parquet"), tmp_path, batch_seed=7)
    assert [(r.id, r.seed, r.steps) for r in parquet_rows] == [("b", rows[0].seed, 3), ("a", 5, None)]


def test_bad_rows_are_reported_with_their_ids_and_the_others_finish(tmp_path, capsys):
    from ortdiffusion.cli import main

    rows = [{"id": "good", "prompt": "a red circle", "steps": 3}, {"id": "no-prompt", "steps": 3},
            {"id": "bad-seed", "prompt": "a red circle", "seed": "12a"}, {"id": "bad-steps", "prompt": "x", "steps": 0},
            {"id": "no-image", "prompt": "a red circle", "image": "missing.png", "steps": 3},
            {"id": "no-lora", "prompt": "a red circle", "loras": ["nothing.safetensors"]},
            {"id": "bad/id", "prompt": "x"}, {"id": "good", "prompt": "again"},
            {"id": "good2", "prompt": "a blue square", "steps": 3, "scheduler": "Euler z"},
            {"id": "last", "prompt": "a blue square", "steps": 3}]
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["batch", str(prompts), "--out", str(tmp_path / "out"), "--quiet"]) == 1
    err = capsys.readouterr().err
    manifest = _manifest(tmp_path / "out")
    assert [r["index"] for r in manifest] == list(range(len(rows)))  # every row once, in the file's order
    errors = {r["id"]: r["error"] for r in reversed(manifest)}  # the first row of an id wins
    expected = {"no-prompt": "missing prompt", "bad-seed": "seed '12a' is not an integer",
                "bad-steps": "steps 0 is outside [1, 1000]", "no-image": "image: no image file at",
                "no-lora": "loras: no LoRA file at", "row-00006": "id 'bad/id' cannot name a file",
                "good2": "Euler z"}
    for row_id, message in expected.items():
        assert message in errors[row_id], (row_id, errors[row_id])
        assert f"row {row_id}: " in err
    assert errors["good"] is None and errors["last"] is None
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["good.png", "last.png"]
    assert "duplicate id (first used by the row at position 0" in manifest[7]["error"]  # the second "good"
    with pytest.raises(BatchFailed, match="row no-prompt failed: missing prompt"):
        batch(prompts, tmp_path / "fast", fail_fast=True, progress=False)
    assert not list((tmp_path / "fast").glob("*.png"))  # bad rows found before any picture is made
    late = tmp_path / "late.jsonl"
    late.write_text("".join(json.dumps(r) + "\n" for r in [rows[0], rows[4], rows[-1]]))
    with pytest.raises(BatchFailed, match="row no-image failed"):
        batch(late, tmp_path / "late", fail_fast=True, progress=False)
    assert [p.name for p in (tmp_path / "late").glob("*.png")] == ["good.png"]  # stopped at the bad row


def test_an_interrupted_local_run_resumed_gives_the_same_set(local_run, tmp_path):
    """Killed (SIGKILL: no clean-up) after a few rows, rerun: the same 16 pictures, byte for byte, as one run."""
    _, reference = local_run
    slow = _write_inputs(tmp_path / "in", steps=6)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "ortdiffusion", "batch", str(slow), "--out", str(out), "--threads", "1", "--quiet"]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None and len(list((out / RECORDS).glob("*.json"))) < 3:
        time.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    finished = len(list((out / RECORDS).glob("*.json")))
    assert 3 <= finished < ROWS, f"the child was killed after {finished} rows; the test needs it mid-run"
    report = batch(slow, out, threads=1, progress=False)
    assert report.skipped == finished and report.made == ROWS - finished
    assert _pictures(out) == _pictures(reference)
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


@pytest.fixture(scope="module")
def ray_cluster():
    """A local two-node Ray cluster (one CPU each), the test process connected to it."""
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "object_store_memory": 100 * 2**20})
    cluster.add_node(num_cpus=1, object_store_memory=100 * 2**20)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False)
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_ray_on_two_nodes_makes_the_same_pictures(ray_cluster, local_run, tmp_path):
    prompts, reference = local_run
    report = batch(prompts, tmp_path / "out", use_ray=True, workers=2, threads=1, progress=False)
    assert (report.made, report.failed) == (ROWS, [])
    assert _pictures(tmp_path / "out") == _pictures(reference)
    manifest = _manifest(tmp_path / "out")
    assert [r["id"] for r in manifest] == [f"r{k:02d}" for k in range(ROWS)]
    assert len({r["node"] for r in manifest}) == 2, "both nodes' actors made pictures"


def test_an_actor_killed_mid_run_loses_and_duplicates_no_row(ray_cluster, local_run, tmp_path):
    prompts, reference = local_run
    out = tmp_path / "out"
    result: dict = {}
    runner = threading.Thread(target=lambda: result.update(report=batch(
        prompts, out, use_ray=True, workers=2, threads=1, progress=False)))
    runner.start()
    victim = None
    deadline = time.monotonic() + 300
    while victim is None and time.monotonic() < deadline and runner.is_alive():
        for record in (out / RECORDS).glob("*.json") if (out / RECORDS).is_dir() else []:
            victim = int(json.loads(record.read_text())["worker"].rsplit(":", 1)[1])
            break
        time.sleep(0.005)
    assert victim is not None, "no row finished before the run ended"
    os.kill(victim, signal.SIGKILL)  # the actor's process dies mid-run, as a crashed worker would
    finished_at_kill = len(list((out / RECORDS).glob("*.json")))
    assert finished_at_kill < ROWS, "the run ended before the kill; the test needs it mid-run"
    runner.join(timeout=600)
    assert not runner.is_alive()
    report = result["report"]
    manifest = _manifest(out)
    assert [r["id"] for r in manifest] == [f"r{k:02d}" for k in range(ROWS)]  # each row once, in order
    assert report.failed == [] and all(r["error"] is None for r in manifest)
    assert _pictures(out) == _pictures(reference)
    workers = {r["worker"] for r in manifest}
    assert len(workers) >= 2 and any(int(w.rsplit(":", 1)[1]) != victim for w in workers)


def test_resume_remakes_rows_whose_fields_or_defaults_changed(tmp_path):
    """A picture is kept only when the row's fields and the batch's defaults are those it was made from."""
    prompts = tmp_path / "p.jsonl"
    rows = [{"id": "a", "prompt": "a red circle", "steps": 3}, {"id": "b", "prompt": "a blue star", "steps": 3,
                                                               "guidance": 4.0}]
    prompts.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    assert batch(prompts, out, progress=False).made == 2
    # another default: every row is made again (conservatively, even a row that sets its own guidance)
    assert (batch(prompts, out, progress=False).skipped, batch(prompts, out, guidance=5.0, progress=False).made) == (2, 2)
    rows[1]["prompt"] = "a green star"
    prompts.write_text("".join(json.dumps(r) + "\n" for r in rows))
    again = batch(prompts, out, guidance=5.0, progress=False)
    assert (again.made, again.skipped) == (1, 1)
    assert read_parameters(out / "b.png")["prompt"] == "a green star"


def test_fail_fast_on_ray_stops_with_the_report(ray_cluster, tmp_path):
    prompts = tmp_path / "p.jsonl"
    rows = [{"id": "bad", "prompt": "x", "image": "missing.png", "steps": 2}, {"id": "good", "prompt": "x", "steps": 2}]
    prompts.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(BatchFailed, match="row bad failed: FileNotFoundError") as failed:
        batch(prompts, tmp_path / "out", use_ray=True, workers=1, threads=1, fail_fast=True, progress=False)
    assert failed.value.report.failed[0][0] == "bad"
