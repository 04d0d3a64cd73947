"""`stacworks algorithm init`: the generated repository's own tests pass, its workflows pass
actionlint, its algorithm.yaml registers (with an image reference and digest)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.harness import stacworks

ACTIONLINT = Path(sys.executable).parent / "actionlint"
DIGEST = "sha256:" + "ab" * 32


def _init(tmp_path: Path, env: dict[str, str], language: str) -> Path:
    target = tmp_path / f"algo-{language}"
    res = stacworks("algorithm", "init", f"my-{language}", "--language", language,
                    "--dir", str(target), env=env)
    assert str(target) in res.stdout
    return target


@pytest.mark.parametrize("language", ["python", "r", "shell"])
def test_init_writes_a_complete_repository(tmp_path: Path, env_no_db: dict[str, str],
                                           language: str) -> None:
    repo = _init(tmp_path, env_no_db, language)
    for name in ("Dockerfile", "README.md", "algorithm.yaml", ".dockerignore", ".gitignore",
                 ".github/workflows/release.yml", ".github/dependabot.yml"):
        assert (repo / name).is_file(), name
    assert list((repo / "src").glob("stacworks_task.*")) and list((repo / "tests").iterdir())
    dockerfile = (repo / "Dockerfile").read_text()
    assert "@sha256:" in dockerfile and "USER 65532" in dockerfile  # pinned base, non-root
    assert "AS test" in dockerfile
    meta = yaml.safe_load((repo / "algorithm.yaml").read_text())
    assert meta["name"] == f"my-{language}" and meta["image"] == f"my-{language}:0.1.0"
    assert meta["parameters"]["type"] == "object" and meta["network"] is False

    # the workflow: OIDC role (no stored keys), pinned actions, scan, ECR, registration
    workflow = (repo / ".github/workflows/release.yml").read_text()
    assert "role-to-assume" in workflow and "id-token: write" in workflow
    assert "aws-access-key-id" not in workflow and "AWS_SECRET_ACCESS_KEY" not in workflow
    for line in workflow.splitlines():
        if line.strip().startswith(("uses:", "- uses:")):
            ref = line.split("@", 1)[1].split()[0]
            assert len(ref) == 40, f"action not pinned by SHA: {line.strip()}"
    assert "trivy-action" in workflow and "amazon-ecr-login" in workflow
    assert "secrets.STACWORKS_API_URL" in workflow and "secrets.STACWORKS_API_KEY" in workflow
    lint = subprocess.run([str(ACTIONLINT), "-no-color", *map(str, (repo / ".github/workflows")
                           .glob("*.yml"))], cwd=repo, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr

    # the repository's own tests (the languages whose runtime is here)
    if language == "python":
        res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                              "tests"], cwd=repo, capture_output=True, text=True, timeout=120)
        assert res.returncode == 0 and "2 passed" in res.stdout, res.stdout + res.stderr
    elif language == "shell" and shutil.which("jq"):
        res = subprocess.run(["sh", "tests/test.sh"], cwd=repo, capture_output=True, text=True)
        assert res.returncode == 0 and "2 tests passed" in res.stdout, res.stdout + res.stderr
    elif language == "r" and shutil.which("Rscript"):
        res = subprocess.run(["Rscript", "tests/test_algorithm.R"], cwd=repo,
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stdout + res.stderr


def test_init_refuses_bad_names_and_non_empty_folders(tmp_path: Path,
                                                      env_no_db: dict[str, str]) -> None:
    bad = stacworks("algorithm", "init", "Bad Name", "--dir", str(tmp_path / "x"),
                    env=env_no_db, check=False)
    assert bad.returncode == 1 and "name:" in bad.stderr and "Traceback" not in bad.stderr
    lang = stacworks("algorithm", "init", "ok", "--language", "cobol", "--dir",
                     str(tmp_path / "y"), env=env_no_db, check=False)
    assert lang.returncode == 1 and "language:" in lang.stderr
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("keep me")
    full = stacworks("algorithm", "init", "ok", "--dir", str(tmp_path / "full"),
                     env=env_no_db, check=False)
    assert full.returncode == 1 and "dir:" in full.stderr
    assert (tmp_path / "full" / "mine.txt").read_text() == "keep me"


def test_register_with_an_image_reference(tmp_path: Path, env_no_db: dict[str, str],
                                          stacworks_env: dict[str, str]) -> None:
    repo = _init(tmp_path, env_no_db, "python")
    definition = str(repo / "algorithm.yaml")
    bad = stacworks("algorithm", "register", definition, "--image", "Not An Image!",
                    env=env_no_db, check=False)  # refused before any database is needed
    assert bad.returncode == 1 and "image:" in bad.stderr
    ref = f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/my-python:0.1.0@{DIGEST}"
    stacworks("algorithm", "register", "--replace", definition, "--image", ref,
              env=stacworks_env)
    shown = json.loads(stacworks("algorithm", "show", "my-python", env=stacworks_env).stdout)
    assert shown["image"] == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/my-python:0.1.0"
    assert shown["image_digest"] == DIGEST and shown["network"] is False
    stacworks("algorithm", "remove", "my-python", env=stacworks_env)
