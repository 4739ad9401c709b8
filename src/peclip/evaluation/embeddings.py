"""Video embeddings of a dataset split and a 2-D map of them with the class texts.

The embedding is the vector the model scores against the class texts: the L2-normalised mean of the
frame embeddings (:meth:`peclip.model.PEClip.encode_video`, docs/spec.md 2.8). The clips are read exactly
as ``peclip eval`` reads them (:mod:`peclip.train.evaluate`: data config, split, sharded loader), and
with several processes each embeds its shard and rank 0 gathers them in dataset order.

The 2-D map is t-SNE (scikit-learn), or UMAP when ``umap-learn`` is installed, fitted on the video
and class-text embeddings together, so the class texts land on the same map. (The official
``tsne_visualization.py`` maps the 7 class logits instead, for DFEW fold 1 only.)
"""

from __future__ import annotations

import csv
import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from peclip.data.dataset import ClipDataset, build_dataloader, load_dataset_items
from peclip.distributed import DistInfo, ShardSampler, all_gather_objects, on_main, pick_device
from peclip.evaluation.evaluate import check_compatible, check_labels
from peclip.evaluation.options import PROJECTIONS, EvalRequest
from peclip.evaluation.plots import plot_embedding_map
from peclip.model import PEClip
from peclip.precision import autocast, resolve_precision

log = logging.getLogger(__name__)



@dataclass
class EmbeddingOutput:
    """``embeddings`` ``(N, E)`` normalised, ``logits`` ``(N, C)``, ``targets`` ``(N,)`` (-1: unlabelled),
    ``indices`` into ``items`` (dataset order), ``classes`` ``(C, E)`` the normalised class-text embeddings."""

    indices: np.ndarray
    targets: np.ndarray
    embeddings: np.ndarray
    logits: np.ndarray
    classes: np.ndarray
    items: list

    @property
    def predictions(self) -> np.ndarray:
        return self.logits.argmax(axis=1)


@torch.no_grad()
def compute_embeddings(model: PEClip, request: EvalRequest, dist_info: DistInfo | None = None) -> EmbeddingOutput:
    """Embed every clip of ``request``'s split (the data path of ``peclip eval``); gathered on every rank."""
    info = dist_info or DistInfo(device=pick_device(request.device))
    cfg = check_compatible(model, request.data)
    items = on_main(lambda: load_dataset_items(cfg, request.split, request.fold, progress=request.progress), info)
    if any(i.label >= 0 for i in items):
        check_labels(items, model.config.num_classes, f"the {request.split} split")
    dataset = ClipDataset(items, cfg, train=False, seed=0)
    sampler = ShardSampler(len(dataset), info.rank, info.world_size)
    loader = build_dataloader(dataset, request.batch_size, train=False, sampler=sampler)
    model.to(info.device).eval()
    precision = resolve_precision(request.precision, info.device)
    embeddings, logits, targets = [], [], []
    with autocast(info.device, precision):
        classes = model.encode_classes().float()  # (C, E), computed once
    for videos, labels in tqdm(loader, desc="embed", unit="batch", disable=not (request.progress and info.is_main),
                               leave=False):
        with autocast(info.device, precision):
            emb = model.encode_video(videos.to(info.device, non_blocking=True)).float()  # (B, E)
        embeddings.append(emb.cpu())
        logits.append((model.config.logit_scale * emb @ classes.T).cpu())  # (B, C), as PEClip.forward
        targets.append(torch.as_tensor(labels).cpu())
    width = classes.shape[1]
    local = (np.asarray(sampler.indices(), dtype=np.int64),
             torch.cat(targets).numpy() if targets else np.zeros(0, np.int64),
             torch.cat(embeddings).numpy() if embeddings else np.zeros((0, width), np.float32),
             torch.cat(logits).numpy() if logits else np.zeros((0, classes.shape[0]), np.float32))
    shards = all_gather_objects(local, info)
    indices, first = np.unique(np.concatenate([s[0] for s in shards]), return_index=True)  # dataset order, once
    targets_all = np.concatenate([s[1] for s in shards])[first]
    emb_all = np.concatenate([s[2] for s in shards])[first]
    logits_all = np.concatenate([s[3] for s in shards])[first]
    if len(indices) == 0:
        raise ValueError(f"nothing to embed: the {request.split} split is empty")
    return EmbeddingOutput(indices, targets_all, emb_all, logits_all, classes.cpu().numpy(), items)


def resolve_projection(method: str = "auto") -> str:
    """``auto`` -> ``umap`` when umap-learn is installed, else ``tsne``; errors name what to install."""
    if method not in PROJECTIONS:
        raise ValueError(f"projection {method!r} is not valid; choose one of {', '.join(PROJECTIONS)}")
    has_umap = importlib.util.find_spec("umap") is not None
    if method == "umap" or (method == "auto" and has_umap):
        if not has_umap:
            raise RuntimeError("projection 'umap' needs umap-learn (pip install umap-learn); or use --projection tsne")
        return "umap"
    if importlib.util.find_spec("sklearn") is None:
        raise RuntimeError("the t-SNE map needs scikit-learn (pip install scikit-learn, or peclip[embed])")
    return "tsne"


def project_2d(embeddings: np.ndarray, classes: np.ndarray, method: str = "auto",
               seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """2-D coordinates of the videos ``(N, 2)`` and of the class texts ``(C, 2)``, fitted together (cosine)."""
    method = resolve_projection(method)
    joint = np.concatenate([embeddings, classes]).astype(np.float64)  # (N + C, E)
    n = len(joint)
    if n < 4:
        raise ValueError(f"a 2-D map needs at least 4 points (videos + class texts), got {n}")
    if method == "tsne":
        from sklearn.manifold import TSNE

        # perplexity must stay below the number of points; 30 is scikit-learn's default for larger sets
        tsne = TSNE(n_components=2, perplexity=float(min(30.0, (n - 1) / 3)), metric="cosine", init="pca",
                    random_state=seed)
        points = tsne.fit_transform(joint)
    else:
        import umap

        points = umap.UMAP(n_components=2, metric="cosine", random_state=seed,
                           n_neighbors=max(2, min(15, n - 1))).fit_transform(joint)
    return points[: len(embeddings)], points[len(embeddings):], method


def write_embeddings(out_dir: str | os.PathLike, output: EmbeddingOutput, class_names: list[str], split: str,
                     projection: str = "auto", seed: int = 0, title: str = "") -> dict[str, Path]:
    """``embeddings.npy`` (N, E), ``index.csv`` (row, path, label, split, prediction), ``class_texts.npy``,
    ``map.csv`` and ``map.png`` (the 2-D map)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "embeddings.npy", output.embeddings.astype(np.float32))
    np.save(out / "class_texts.npy", output.classes.astype(np.float32))
    predictions = output.predictions

    def name(c: int) -> str:
        return class_names[c] if 0 <= c < len(class_names) else ""

    with open(out / "index.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["row", "path", "label", "split", "prediction"])
        for row, (index, target, pred) in enumerate(zip(output.indices, output.targets, predictions, strict=True)):
            item = output.items[int(index)]
            writer.writerow([row, str(item.path), name(int(target)), item.split or split, name(int(pred))])
    written = {"embeddings": out / "embeddings.npy", "index": out / "index.csv", "class_texts": out / "class_texts.npy"}
    videos, texts, method = project_2d(output.embeddings, output.classes, projection, seed)
    with open(out / "map.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["kind", "row", "name", "x", "y"])
        for row, (x, y) in enumerate(videos):
            writer.writerow(["video", row, name(int(output.targets[row])), f"{x:.5f}", f"{y:.5f}"])
        for c, (x, y) in enumerate(texts):
            writer.writerow(["class_text", c, class_names[c], f"{x:.5f}", f"{y:.5f}"])
    plot_embedding_map(videos, output.targets, class_names, texts, title=f"{title} ({method}, cosine)".strip(),
                       path=out / "map.png")
    written.update({"map": out / "map.csv", "plot": out / "map.png"})
    return written
