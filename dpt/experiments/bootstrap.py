"""Paired bootstrap over test images: confidence intervals for base, novel and HM, and for differences.

Seeds resample only the few training shots; the test images are a sample too (480 per half on the
miniature: one image is 0.2 points). Every run stores which test images it got right (`pack`), so
the same resampled images can be scored for every method at once: the intervals of a difference are
paired, which is what tells a real gap from a lucky test set. Percentile intervals, `reps` resamples
drawn from a fixed seed, so a table is reproducible to the last digit.

Aggregation follows `dpt.experiments.summary`: per dataset the mean over seeds of base, novel and HM; the average
over datasets is the HM of the averaged base and novel accuracies.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from ..errors import BadInput
from ..evaluate import harmonic_mean

REPS, LEVEL, SEED = 2000, 0.95, 0


def pool_rng(seed: int, *parts) -> np.random.Generator:
    """The resampling generator of one image pool (a dataset's half, a target), seeded from the pool's own
    identity: its interval does not depend on which other datasets are in the same table."""
    digest = hashlib.sha256("|".join(map(str, (seed, *parts))).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def pack(hits) -> dict:
    """Per-image correctness as a short JSON record: {"n": images, "bits": hex of the packed booleans}."""
    hits = np.asarray(hits, dtype=bool)
    return {"n": int(hits.size), "bits": np.packbits(hits).tobytes().hex()}


def unpack(record: dict) -> np.ndarray:
    bits = np.unpackbits(np.frombuffer(bytes.fromhex(record["bits"]), dtype=np.uint8))
    return bits[:record["n"]].astype(bool)


def _weights(n: int, reps: int, rng: np.random.Generator) -> np.ndarray:
    """[reps, n] resampling counts (each row sums to n): a bootstrap sample of n images."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=reps).astype(np.float32)


def _hm(b: np.ndarray, n: np.ndarray) -> np.ndarray:
    return np.where(b + n > 0, 2 * b * n / np.maximum(b + n, 1e-9), 0.0)


@dataclass
class Interval:
    mean: float  # the point estimate (on the full test set)
    lo: float
    hi: float

    def __str__(self) -> str:
        return f"{self.mean:6.2f} [{self.lo:6.2f}, {self.hi:6.2f}]"

    def excludes_zero(self) -> bool:
        return self.lo > 0 or self.hi < 0


def percentile_interval(point: float, samples: np.ndarray, level: float = LEVEL) -> Interval:
    """The point estimate with the central `level` percentile interval of its bootstrap samples."""
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(samples, [tail, 100 - tail])
    return Interval(point, float(lo), float(hi))


class Bootstrap:
    """Resampled base / novel / HM of every (label, dataset) in `rows` and of each label's average. One set of
    resampled images per (dataset, half) is shared by all labels, so differences are paired."""

    def __init__(self, rows: list[dict], reps: int = REPS, seed: int = SEED, level: float = LEVEL):
        self.reps, self.level = reps, level
        groups: dict[tuple, list[dict]] = {}
        for r in rows:
            groups.setdefault((r["label"], r["dataset"]), []).append(r)
        datasets = sorted({d for _, d in groups})
        weights = {}
        for d in datasets:  # every row of a dataset must score the same images
            mine = [r for (_, dd), rs in groups.items() if dd == d for r in rs]
            for r in mine:
                if "correct" not in r:
                    raise BadInput(f"the {r['label']} row for {d} (seed {r['seed']}) has no per-image record (it was "
                                   "written before dpt recorded predictions): rerun it, e.g. move the results file "
                                   "aside and rerun the command that wrote it")
            prints = {r["identity"]["data"] for r in mine}
            if len(prints) > 1:
                raise BadInput(f"rows for {d} were scored on different data ({', '.join(sorted(prints))}); "
                               "compare rows of one dataset version")
            for half in ("base", "novel"):
                sizes = {r["correct"][half]["n"] for r in mine}
                if len(sizes) > 1:
                    raise BadInput(f"rows for {d} scored {sorted(sizes)} {half} images; they must score the same set")
                n = sizes.pop()
                weights[d, half] = _weights(n, reps, pool_rng(seed, d, next(iter(prints)), mine[0]["split"], half, n))
        self.samples: dict[tuple, dict[str, np.ndarray]] = {}
        self.point: dict[tuple, dict[str, float]] = {}
        for (label, d), rs in groups.items():
            acc = {}
            for half in ("base", "novel"):
                hits = np.stack([unpack(r["correct"][half]) for r in rs]).astype(np.float32)  # [seeds, n]
                acc[half] = 100.0 * hits @ weights[d, half].T / hits.shape[1]               # [seeds, reps]
            self.samples[label, d] = {"base": acc["base"].mean(0), "novel": acc["novel"].mean(0),
                                      "hm": _hm(acc["base"], acc["novel"]).mean(0)}
            self.point[label, d] = {"base": float(np.mean([r["base"] for r in rs])),
                                    "novel": float(np.mean([r["novel"] for r in rs])),
                                    "hm": float(np.mean([harmonic_mean(r["base"], r["novel"]) for r in rs]))}
        for label in dict.fromkeys(lbl for lbl, _ in groups):
            per = [d for d in datasets if (label, d) in groups]
            b = np.mean([self.samples[label, d]["base"] for d in per], axis=0)
            n = np.mean([self.samples[label, d]["novel"] for d in per], axis=0)
            self.samples[label, "average"] = {"base": b, "novel": n, "hm": _hm(b, n)}
            pb = float(np.mean([self.point[label, d]["base"] for d in per]))
            pn = float(np.mean([self.point[label, d]["novel"] for d in per]))
            self.point[label, "average"] = {"base": pb, "novel": pn, "hm": harmonic_mean(pb, pn)}
        self.datasets = {label: [d for d in datasets if (label, d) in groups] for label, _ in groups}

    def _has(self, label: str, dataset: str) -> None:
        if (label, dataset) not in self.point:
            raise BadInput(f"no rows of {label} on {dataset} (with per-image records) to compare; run it first")

    def interval(self, label: str, dataset: str, metric: str) -> Interval:
        self._has(label, dataset)
        return percentile_interval(self.point[label, dataset][metric], self.samples[label, dataset][metric], self.level)

    def difference(self, a: str, b: str, dataset: str, metric: str) -> Interval:
        """a minus b, on the same resampled images; for the average both must cover the same datasets."""
        self._has(a, dataset), self._has(b, dataset)
        if dataset == "average" and self.datasets[a] != self.datasets[b]:
            raise BadInput(f"{a} and {b} cover different datasets ({self.datasets[a]} vs {self.datasets[b]}): "
                           "their averages cannot be compared")
        return percentile_interval(self.point[a, dataset][metric] - self.point[b, dataset][metric],
                                   self.samples[a, dataset][metric] - self.samples[b, dataset][metric], self.level)


def row_intervals(correct: dict, reps: int = REPS, seed: int = SEED, level: float = LEVEL) -> dict:
    """[lo, hi] of base, novel and HM for one run, resampling its own test images (stored in its row)."""
    rng = np.random.default_rng(seed)
    acc = {}
    for half in ("base", "novel"):
        hits = np.asarray(correct[half], dtype=np.float32)
        acc[half] = 100.0 * _weights(len(hits), reps, rng) @ hits / max(1, len(hits))
    acc["hm"] = _hm(acc["base"], acc["novel"])
    cis = {k: percentile_interval(0.0, v, level) for k, v in acc.items()}
    return {k: [round(ci.lo, 2), round(ci.hi, 2)] for k, ci in cis.items()}


class AccuracyBootstrap:
    """The same for one-accuracy rows (transfer targets, few-shot points): per cell the mean over seeds,
    resampling the images of the cell's pool; one set of resamples per pool is shared by every label, so
    differences are paired. cell(row) -> the table cell, e.g. (label, target); pool(row) -> its image set."""

    def __init__(self, rows: list[dict], cell, pool, reps: int = REPS, seed: int = SEED, level: float = LEVEL):
        self.level = level
        cells: dict[tuple, list[dict]] = {}
        for r in rows:
            if "correct" not in r:
                raise BadInput(f"the {r['label']} row for {pool(r)} (seed {r['seed']}) has no per-image record (it was "
                               "written before dpt recorded predictions): rerun it")
            cells.setdefault(cell(r), []).append(r)
        sizes: dict[str, set] = {}
        for r in rows:
            sizes.setdefault(pool(r), set()).add(r["correct"]["n"])
        for name, n in sizes.items():
            if len(n) > 1:
                raise BadInput(f"rows for {name} scored {sorted(n)} images; they must score the same set")
        weights = {}
        for name, n in sorted(sizes.items()):
            n = n.pop()
            weights[name] = _weights(n, reps, pool_rng(seed, name, n))
        self.samples, self.point = {}, {}
        for key, rs in cells.items():
            hits = np.stack([unpack(r["correct"]) for r in rs]).astype(np.float32)
            self.samples[key] = (100.0 * hits @ weights[pool(rs[0])].T / hits.shape[1]).mean(0)
            self.point[key] = float(np.mean([r["accuracy"] for r in rs]))

    def interval(self, key) -> Interval:
        return percentile_interval(self.point[key], self.samples[key], self.level)

    def difference(self, a, b) -> Interval:
        """Cell a minus cell b; both must draw on the same images (the same pool)."""
        return percentile_interval(self.point[a] - self.point[b], self.samples[a] - self.samples[b], self.level)
