"""The docs keep up with the code: every subcommand has its section in docs/cli.md, the README stays short and the
hand-written pages' links lead somewhere."""
from __future__ import annotations

import re

import typer
from conftest import REPO

import app.cli

README = REPO / "README.md"
CLI_DOC = REPO / "docs" / "cli.md"


def subcommands(group, prefix: tuple[str, ...] = ()) -> list[str]:
    """Every runnable subcommand, groups walked into: ``["info", ..., "synth rooms", "synth objects"]``. (Typer
    ships its own copy of click, so a group is recognised by its ``commands``, not by click's class.)"""
    found = []
    for name, command in group.commands.items():
        if getattr(command, "commands", None) is not None:
            found += subcommands(command, (*prefix, name))
        else:
            found.append(" ".join((*prefix, name)))
    return found


def headings(text: str) -> list[str]:
    return [line.lstrip("#").strip() for line in text.splitlines() if re.match(r"#{1,6} ", line)]


def anchor(heading: str) -> str:
    """GitHub's link target for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return "".join(c for c in heading.lower() if c.isalnum() or c in " -_").replace(" ", "-")


def test_every_subcommand_has_a_section_in_the_cli_doc():
    commands = subcommands(typer.main.get_command(app.cli.app))
    assert {"info", "synth rooms", "synth objects", "reconstruct", "compress"} <= set(commands)
    titles = headings(CLI_DOC.read_text())
    missing = [c for c in commands if f"`nir-studio {c}`" not in titles]
    assert not missing, f"docs/cli.md has no '### `nir-studio COMMAND`' heading for: {', '.join(missing)}"


def test_readme_is_short():
    lines = README.read_text().splitlines()
    assert len(lines) <= 160, f"README.md has {len(lines)} lines; per-command detail belongs in docs/cli.md"


def test_links_lead_to_files_and_headings():
    pages = [README, CLI_DOC, REPO / "docs" / "architecture.md", REPO / "docs" / "findings.md",
             REPO / "assets" / "models" / "README.md"]
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if target.startswith(("http://", "https://")):
                continue
            path, _, fragment = target.partition("#")
            file = page.parent / path if path else page
            where = f"{page.relative_to(REPO)} links to {target}"
            assert file.exists(), f"{where}, which does not exist"
            if fragment:
                assert fragment in {anchor(h) for h in headings(file.read_text())}, f"{where}: no such heading"
