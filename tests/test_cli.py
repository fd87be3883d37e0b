"""The ortdiffusion command line (README's main command)."""

import json

from ortdiffusion.cli import main


def test_scheduler_command_prints_schedule_and_seeded_latents(capsys):
    assert main(["scheduler", "--steps", "5", "--seed", "3", "--height", "64", "--width", "64"]) == 0
    out = capsys.readouterr().out
    assert "timesteps: 801 601 401 201 1" in out  # SD 1.5 config, leading spacing, steps_offset 1
    assert "seed=3" in out


def test_scheduler_command_reads_a_config_and_reports_errors(tmp_path, capsys):
    (tmp_path / "scheduler_config.json").write_text(json.dumps({"timestep_spacing": "trailing"}))
    assert main(["scheduler", "--config", str(tmp_path), "--steps", "4", "--height", "16", "--width", "16"]) == 0
    assert "timesteps: 999 749 499 249" in capsys.readouterr().out
    assert main(["scheduler", "--config", str(tmp_path / "missing")]) == 2
    assert "no scheduler_config.json" in capsys.readouterr().err
    (tmp_path / "scheduler_config.json").write_text('{"beta_schedule": "cosine"}')
    assert main(["scheduler", "--config", str(tmp_path)]) == 2
    assert "beta_schedule 'cosine' is not supported" in capsys.readouterr().err
