"""The README's results tables are generated from benchmarks/results/*.json, and say so truthfully."""
from __future__ import annotations

import json
import re

import pytest

from benchmarks import readme_tables, results_io
from sdk.errors import ConfigError


def test_readme_tables_match_the_committed_results():
    text = readme_tables.README.read_text()
    _, changed = readme_tables.update(text)
    assert changed == [], f"README tables {changed} differ from their JSON; run python benchmarks/readme_tables.py"
    assert readme_tables.stray_figures(text) == []


def test_every_cited_results_file_has_provenance():
    for table in readme_tables.TABLES.values():
        for row in table.rows:
            document = results_io.read(readme_tables.RESULTS / row.file)
            assert document["command"].startswith("python ") and document["environment"]["cpu"], row.file


def test_check_names_the_table_whose_figure_was_edited(tmp_path, capsys):
    readme = tmp_path / "README.md"
    text = readme_tables.README.read_text()
    block = re.search(r"<!-- table:models -->\n.*?<!-- /table:models -->", text, re.S).group(0)
    edited = re.sub(r"\d+\.\d %", "99.9 %", block, count=1)
    assert edited != block
    readme.write_text(text.replace(block, edited))
    assert readme_tables.main(["--check", "--readme", str(readme)]) == 1
    assert "table 'models' differs" in capsys.readouterr().err
    assert readme_tables.main(["--readme", str(readme)]) == 0  # regenerating puts the figure back
    assert readme.read_text() == text


def test_check_refuses_a_percentage_outside_the_tables(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(readme_tables.README.read_text() + "\nOur model reaches 97.5 % on everything.\n")
    assert readme_tables.main(["--check", "--readme", str(readme)]) == 1
    assert "97.5 % on everything" in capsys.readouterr().err


def test_a_results_file_without_provenance_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(readme_tables, "RESULTS", tmp_path)
    monkeypatch.setattr(readme_tables, "ROOT", tmp_path)
    (tmp_path / "bare.json").write_text(json.dumps({"results": {"accuracy": 0.9}}))
    table = readme_tables.Table(("figure",), (readme_tables.Row("bare.json", ("{accuracy|pct}",)),))
    with pytest.raises(ConfigError, match=r"bare.json: missing \['command', 'written', 'environment', 'seeds'\]"):
        readme_tables.render("t", table, {})


def test_rows_render_seed_spread_and_list_selection(tmp_path, monkeypatch):
    monkeypatch.setattr(readme_tables, "RESULTS", tmp_path)
    monkeypatch.setattr(readme_tables, "ROOT", tmp_path)
    (tmp_path / "make_r.py").write_text("")
    results_io.write(tmp_path / "r.json", {"acc": [0.70, 0.80, 0.75], "one": {"mean": 0.5, "std": 0.0, "min": 0.5,
                                                                            "max": 0.5, "n": 1},
                                           "runs": [{"rate": 16000, "ms": 0.1234}, {"rate": 48000, "ms": 2.5}]},
                     seeds=[0, 1, 2], command="python make_r.py")
    table = readme_tables.Table(("a", "b", "c"), (readme_tables.Row("r.json", ("{acc|pct}", "{one|pct}",
                                                                               "{runs.rate=48000.ms|ms}")),))
    out = readme_tables.render("t", table, {})
    row = "| 75.0 ± 4.1 % (70.0–80.0, 3 seeds) | 50.0 % (1 seed) | 2.5 ms | [r.json](benchmarks/results/r.json) |"
    assert row in out
    assert "`python make_r.py`" in out and "seeds 0, 1, 2" in out
    bad = readme_tables.Table(("a",), (readme_tables.Row("r.json", ("{runs.rate=8000.ms|ms}",)),))
    with pytest.raises(ConfigError, match=r"0 entries match 'rate=8000'"):
        readme_tables.render("t", bad, {})


def test_a_readme_without_a_tables_markers_is_an_error():
    with pytest.raises(ConfigError, match=r"no '<!-- table:models -->'"):
        readme_tables.update("# README without tables\n")


def test_a_results_file_whose_command_is_not_in_the_repository_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(readme_tables, "RESULTS", tmp_path)
    monkeypatch.setattr(readme_tables, "ROOT", tmp_path)
    results_io.write(tmp_path / "elsewhere.json", {"accuracy": 0.9}, command="python /home/me/notes/eval.py")
    table = readme_tables.Table(("figure",), (readme_tables.Row("elsewhere.json", ("{accuracy|pct}",)),))
    with pytest.raises(ConfigError, match=r"elsewhere.json: command 'python /home/me/notes/eval.py' does not run"):
        readme_tables.render("t", table, {})
    (tmp_path / "eval.py").write_text("")
    results_io.write(tmp_path / "here.json", {"accuracy": 0.9}, command="python eval.py --seed 0")
    table = readme_tables.Table(("figure",), (readme_tables.Row("here.json", ("{accuracy|pct}",)),))
    assert "90.0 %" in readme_tables.render("t", table, {})
