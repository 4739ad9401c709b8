"""Checkpoints on the Hugging Face Hub: ``hf-hub:ORG/NAME[@REVISION]`` names (open_clip's convention).

A hub checkpoint is a peclip checkpoint folder (``config.json`` + ``trainable.safetensors``, and
``clip.safetensors`` where the CLIP travels with it) plus a model card (``README.md``) whose file
table records every file's sha256. :func:`download` resolves a name through ``huggingface_hub``
(its cache, ``HF_HUB_CACHE``; ``HF_HUB_OFFLINE=1`` reads the cache only, read when called, not at
import) and refuses any file whose sha256 is not the recorded one. :func:`upload` writes the
files in one commit and downloads them back to verify them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

import huggingface_hub
from huggingface_hub import CommitOperationAdd
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, HFValidationError

log = logging.getLogger(__name__)

PREFIX = "hf-hub:"
CARD_FILE = "README.md"
SUMS_FILE = "SHA256SUMS"  # optional sidecar: "<sha256>  <file>" lines
_CARD_ROW = re.compile(r"^\|\s*`?([\w.\-/]+)`?\s*\|\s*([0-9a-f]{64})\s*\|", re.MULTILINE)
_SUMS_ROW = re.compile(r"^([0-9a-f]{64})\s+\*?([\w.\-/]+)\s*$", re.MULTILINE)
_DOWNLOAD_ERRORS = (HfHubHTTPError, HFValidationError, OSError)


def is_hub_name(name: object) -> bool:
    """``hf-hub:...`` given as a string or as a path (command lines turn it into ``Path``)."""
    return isinstance(name, (str, os.PathLike)) and os.fspath(name).startswith(PREFIX)


def parse(name: str) -> tuple[str, str | None]:
    """``hf-hub:ORG/NAME@REV`` -> ``("ORG/NAME", "REV")`` (revision None: the default branch)."""
    name = os.fspath(name)
    body = name[len(PREFIX):] if is_hub_name(name) else name
    repo_id, _, revision = body.partition("@")
    if not re.fullmatch(r"[\w.\-]+/[\w.\-]+", repo_id):
        raise ValueError(f"{name!r} is not a hub model name; write hf-hub:ORG/NAME (optionally @REVISION)")
    return repo_id, revision or None


def offline() -> bool:
    """``HF_HUB_OFFLINE`` as set now (huggingface_hub itself reads it once, at import)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def cache_dir() -> str | None:
    """The hub cache as set now: ``HF_HUB_CACHE``, else ``HF_HOME/hub``, else huggingface_hub's default."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return str(Path(os.environ["HF_HOME"]) / "hub")
    return None


def sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def recorded_hashes(card_text: str, sums_text: str = "") -> dict[str, str]:
    """file -> sha256 from a model card's file table (``| file | sha256 | ...``) and a ``SHA256SUMS`` sidecar."""
    hashes = {name: digest for name, digest in _CARD_ROW.findall(card_text)}
    for digest, name in _SUMS_ROW.findall(sums_text):
        if hashes.get(name, digest) != digest:
            raise ValueError(f"the model card and {SUMS_FILE} record different sha256 for {name}; the upload is "
                             "inconsistent")
        hashes[name] = digest
    return hashes


def _fetch(repo_id: str, filename: str, revision: str | None, required: bool = True, **kwargs) -> Path | None:
    try:
        return Path(huggingface_hub.hf_hub_download(repo_id, filename, revision=revision, cache_dir=cache_dir(),
                                                    local_files_only=offline(), **kwargs))
    except EntryNotFoundError as err:  # also LocalEntryNotFoundError (not cached, offline)
        if not required:
            return None
        if offline():
            raise FileNotFoundError(f"hf-hub:{repo_id}: {filename} is not in the local hub cache "
                                    f"({cache_dir() or 'the default one'}) and HF_HUB_OFFLINE is set; download it "
                                    "once online, or unset HF_HUB_OFFLINE") from err
        raise FileNotFoundError(f"hf-hub:{repo_id} has no {filename} ({err}); is it a peclip model?") from err
    except _DOWNLOAD_ERRORS as err:
        raise RuntimeError(f"cannot fetch {filename} of hf-hub:{repo_id} ({type(err).__name__}: {err}); check the "
                           "name and your network, or set HF_HUB_OFFLINE=1 to use the local cache") from err


def download(name: str) -> Path:
    """The local folder of the hub checkpoint ``name`` (``hf-hub:ORG/NAME[@REV]``), every file verified.

    The card's file table (or the ``SHA256SUMS`` sidecar) lists the checkpoint's files; each is
    fetched (or found in the cache) and its sha256 compared with the recorded one.
    """
    repo_id, revision = parse(name)
    card = _fetch(repo_id, CARD_FILE, revision, required=False)
    sums = _fetch(repo_id, SUMS_FILE, revision, required=False)
    if card is None and sums is None:
        _fetch(repo_id, "config.json", revision)  # not cached / no such repo: its error says which
        raise ValueError(f"{name} has neither a model card ({CARD_FILE}) nor {SUMS_FILE}, so its files cannot be "
                         "verified; peclip only loads hub checkpoints with recorded sha256 (upload with peclip push)")
    hashes = recorded_hashes(card.read_text(encoding="utf-8") if card else "",
                             sums.read_text(encoding="utf-8") if sums else "")
    if "config.json" not in hashes:
        raise ValueError(f"{name}: no sha256 recorded for config.json in its model card ({CARD_FILE}) or "
                         f"{SUMS_FILE}; peclip only loads hub checkpoints it can verify (upload with peclip push)")
    folder = None
    for filename, expected in sorted(hashes.items()):
        path = _fetch(repo_id, filename, revision)
        actual = sha256(path)
        if actual != expected:
            raise ValueError(f"{name}: {filename} has sha256 {actual} but its model card records {expected}; the "
                             f"download is corrupt or the file was changed after the card was written. Delete "
                             f"{path} from the cache and download again; do not use this file")
        folder = path.parent if filename == "config.json" else folder
    log.info("hf-hub:%s: %d files verified (sha256) in %s", repo_id, len(hashes), folder)
    return folder


def upload(files: Mapping[str, str | os.PathLike], card_text: str, repo_id: str, api=None,
           message: str = "peclip push", private: bool = False) -> str:
    """Upload ``files`` (name in repo -> local path) and the card in one commit; verify by downloading.

    ``api`` is a ``huggingface_hub.HfApi`` (or an object with its ``create_repo``, ``create_commit``
    and ``hf_hub_download`` methods). Returns the commit id. The card must record every file's sha256.
    """
    api = api if api is not None else huggingface_hub.HfApi()
    repo_id, _ = parse(repo_id)
    hashes = recorded_hashes(card_text)
    for name, path in files.items():
        if hashes.get(name) != sha256(path):
            raise ValueError(f"the model card does not record the sha256 of {name} ({path}); write it with "
                             "peclip.train.card.model_card")
    api.create_repo(repo_id, exist_ok=True, private=private)
    operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(path)) for name, path in files.items()]
    operations.append(CommitOperationAdd(path_in_repo=CARD_FILE, path_or_fileobj=card_text.encode("utf-8")))
    commit = api.create_commit(repo_id, operations, commit_message=message)
    revision = getattr(commit, "oid", None)
    with tempfile.TemporaryDirectory() as tmp:
        for name in files:
            got = Path(api.hf_hub_download(repo_id, name, revision=revision, cache_dir=tmp, force_download=True))
            if sha256(got) != hashes[name]:
                raise RuntimeError(f"hf-hub:{repo_id}: {name} read back after the upload has sha256 {sha256(got)}, "
                                   f"not {hashes[name]}; the upload is damaged, push again")
    log.info("uploaded %d files to hf-hub:%s (commit %s) and verified them", len(files) + 1, repo_id, revision)
    return revision
