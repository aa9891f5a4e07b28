"""Project invariants: CI runs exactly the README's test command; the layout the brief fixes exists."""

import re


def test_ci_runs_the_readme_test_command(repo_root):
    readme = (repo_root / "README.md").read_text()
    match = re.search(r"^(python -m pytest\S*[^\n#]*?)\s+#", readme, flags=re.M)
    assert match, "README's set-up must show the test command"
    ci_lines = [line.strip() for line in (repo_root / ".ci" / "run").read_text().splitlines()]
    assert match.group(1).strip() in ci_lines


def test_top_level_layout(repo_root):
    for name in ("setup.cfg", "kind_tf", "checkpoints", "notebooks", "tests", "enhance.py", "train.py",
                 "evaluate.py", "README.md", ".ci/run"):
        assert (repo_root / name).exists(), name
    assert (repo_root / "kind_tf" / "assets" / "sample_dark.png").is_file()
