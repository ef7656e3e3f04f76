"""Audio in: clip lists from folders, manifests and Speech Commands; TTS; negatives; augmentation."""
from __future__ import annotations

import os
import pathlib

from sdk.errors import ConfigError

REPO_DIR = pathlib.Path(__file__).resolve().parents[2]


def data_root(root=None, *, must_exist: bool = False) -> pathlib.Path:
    """The shared data folder: ``root``, else ``$AURICLE_DATA``, else ``shared/data`` beside the
    repository (or beside its parent, for a git worktree one level deeper).

    ``must_exist``: raise ``ConfigError`` when the folder is absent (a task that needs it);
    a recipe only expands ``$AURICLE_DATA`` with it, and checks its own paths later.
    """
    if root or os.environ.get("AURICLE_DATA"):
        path = pathlib.Path(root or os.environ["AURICLE_DATA"])
    else:
        candidates = [REPO_DIR.parent / "shared" / "data", REPO_DIR.parent.parent / "shared" / "data"]
        path = next((c for c in candidates if c.is_dir()), candidates[0])
    if must_exist and not path.is_dir():
        raise ConfigError(f"data folder {path} does not exist; pass --data or set AURICLE_DATA")
    return path
