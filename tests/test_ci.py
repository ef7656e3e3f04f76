"""CI runs what the README tells a user to run."""
import pathlib
import re

REPO = pathlib.Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    return [line for line in re.findall(r"^sudo apt-get .*$", text, flags=re.M)]


def test_ci_runs_the_readme_test_command():
    commands = readme_commands()
    tests = [c for c in commands if c.endswith("&& python -m pytest")]
    assert len(tests) == 1, commands
    ci_lines = (REPO / ".ci" / "run").read_text().splitlines()
    assert tests[0] in ci_lines, "README's test command and .ci/run differ"


def test_readme_set_up_commands_install_the_same_way():
    install = {c.split(" && pip install")[0] for c in readme_commands()}
    assert len(install) == 1 and "--no-install-recommends" in next(iter(install)), install
