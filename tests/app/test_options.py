"""Command-line options generated from config fields: defaults and help from the dataclass, values checked by it."""
from __future__ import annotations

import typer
from test_cli import run
from typer.testing import CliRunner

from app.cli import app
from app.options import help_text
from compress.config import CompressConfig
from nir_core.config import field_docs
from nir_core.pipeline import PipelineConfig


def _help(*command: str) -> str:
    result = CliRunner().invoke(app, [*command, "--help"], terminal_width=400, env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_help_and_defaults_come_from_the_config_fields():
    shown = _help("extract")
    assert help_text(field_docs(PipelineConfig)["min_component_area"])[:40] in shown
    assert f"[default: {PipelineConfig().min_component_area}]" in shown
    compress = _help("compress")
    assert help_text(field_docs(CompressConfig)["coder"])[:40] in compress
    assert "--quantiser" in compress and "--quantizer" in compress


def test_the_config_checks_the_values(capsys, tmp_path):
    code, _, err = run(capsys, "extract", "in.ply", "-o", str(tmp_path / "out.ply"), "--method", "poisson")
    assert code == 2 and "unknown extraction method 'poisson'" in err
    code, _, err = run(capsys, "compress", "bundle", "-o", str(tmp_path / "m.nirz"), "--quantizer", "median")
    assert code == 2 and "unknown quantiser 'median'" in err


def test_help_text_drops_markup():
    assert help_text(":class:`~a.B` and ``x``\n  next line") == "B and x next line"


def test_a_command_receives_the_config_it_was_given():
    from app.options import config_options

    seen = {}
    demo = typer.Typer()

    @demo.command()
    @config_options(PipelineConfig, "resolution", "labels", param="pipeline")
    def go(*, pipeline):
        seen["cfg"] = pipeline

    result = CliRunner().invoke(demo, ["--resolution", "64", "--no-labels"])
    assert result.exit_code == 0, result.output
    assert seen["cfg"] == PipelineConfig(resolution=64, labels=False)
