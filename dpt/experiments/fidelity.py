"""How far a miniature is from real CLIP: the fidelity criteria and the table that states them per profile.

A miniature is trusted as a proxy only as far as it ranks the field's methods as the real benchmarks do and shows
their phenomena. `criteria()` computes each verdict with its evidence from a base-to-novel summary;
`benchmarks/miniature_criteria.py` (`make criteria`) runs the rows and writes results/<profile>/criteria.json;
`fidelity_table()` reads those files back, one line per profile, with the published ViT-B/16 averages as the
reference line (the criteria applied to real CLIP itself), for docs/miniature.md and notebooks 00 and 06.
"""
from __future__ import annotations

import json
from pathlib import Path

from .published import published

# The eight methods with a published ViT-B/16 base-to-novel average (dpt/experiments/published.py).
EIGHT = ("zeroshot", "coop", "cocoop", "prograd", "kgcoop", "ivlp", "maple", "promptsrc")
FIDELITY_PROFILES = ("miniature-v1", "miniature-v2")  # every miniature profile, in the order the table lists them
# The columns of the table: (criterion key in criteria.json, header)
COLUMNS = (
    ("ranking_spearman", "ranking ρ ≥ 0.8"),
    ("coop_base_at_least_zero_shot_plus_5", "CoOp base ≥ ZS + 5"),
    ("coop_novel_at_most_zero_shot_minus_3", "CoOp novel ≤ ZS − 3"),
    ("cocoop_novel_at_least_coop_plus_3", "CoCoOp novel ≥ CoOp + 3"),
    ("kgcoop_hm_above_coop", "KgCoOp HM > CoOp HM"),
    ("two_best_prompt_the_image_encoder", "two best prompt the image encoder"),
    ("zero_shot_within_50_85", "ZS base, novel in 50-85"),
    ("one_domain", "one domain per dataset"),
)


def ranks(values: list[float]) -> list[float]:
    """1-based ranks, ties given their mean rank (Spearman's convention)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rho: Pearson's correlation of the ranks."""
    ra, rb = ranks(a), ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    var = (sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb)) ** 0.5
    return cov / var if var else 0.0


def criteria(avg: dict, per_dataset: dict | None = None, rho_needed: float = 0.8) -> dict:
    """Each criterion with its evidence and whether it holds. avg: {method: {'base', 'novel', 'hm'}} averaged over
    the datasets; per_dataset: {dataset: {method: row}} (only the zero-shot rows are read, as evidence)."""
    from ..methods import METHODS
    ours, theirs = [avg[m]["hm"] for m in EIGHT], [published(m)["hm"] for m in EIGHT]
    rho = spearman(ours, theirs)
    zs, coop, cocoop = avg["zeroshot"], avg["coop"], avg["cocoop"]
    top_two = sorted(EIGHT, key=lambda m: -avg[m]["hm"])[:2]
    r = lambda x: round(x, 2)
    return {
        "ranking_spearman": {"rho": r(rho), "needed": rho_needed, "ours_hm": {m: r(avg[m]["hm"]) for m in EIGHT},
                             "published_hm": {m: published(m)["hm"] for m in EIGHT}, "holds": rho >= rho_needed},
        "coop_base_at_least_zero_shot_plus_5": {"gain": r(coop["base"] - zs["base"]),
                                                "holds": coop["base"] >= zs["base"] + 5},
        "coop_novel_at_most_zero_shot_minus_3": {"change": r(coop["novel"] - zs["novel"]),
                                                 "holds": coop["novel"] <= zs["novel"] - 3},
        "cocoop_novel_at_least_coop_plus_3": {"difference": r(cocoop["novel"] - coop["novel"]),
                                              "holds": cocoop["novel"] >= coop["novel"] + 3},
        "kgcoop_hm_above_coop": {"kgcoop": r(avg["kgcoop"]["hm"]), "coop": r(coop["hm"]),
                                 "holds": avg["kgcoop"]["hm"] > coop["hm"]},
        "two_best_prompt_the_image_encoder": {"two_best": top_two,
                                              "holds": all(METHODS[m].encodes_images for m in top_two)},
        "zero_shot_within_50_85": {"average": [r(zs["base"]), r(zs["novel"])],
                                   "per_dataset": {d: [r(rows["zeroshot"]["base"]), r(rows["zeroshot"]["novel"])]
                                                   for d, rows in (per_dataset or {}).items()},
                                   "holds": 50 <= zs["base"] <= 85 and 50 <= zs["novel"] <= 85},
    }


def published_criteria() -> dict:
    """The criteria applied to the published ViT-B/16 averages themselves: what a faithful miniature reproduces
    (ρ is 1 by construction)."""
    return criteria({m: published(m) for m in EIGHT})


TEXT = ("two_best_prompt_the_image_encoder", "one_domain")  # cells that are words, not numbers


def _cell(key: str, c: dict | None) -> str:
    """One verdict as the table shows it: the evidence, then ✓ or ✗."""
    if c is None:
        return "not measured"
    mark = "✓" if c["holds"] else "✗"
    show = {"ranking_spearman": lambda: f"{c['rho']:.2f}",
            "coop_base_at_least_zero_shot_plus_5": lambda: f"{c['gain']:+.1f}",
            "coop_novel_at_most_zero_shot_minus_3": lambda: f"{c['change']:+.1f}",
            "cocoop_novel_at_least_coop_plus_3": lambda: f"{c['difference']:+.1f}",
            "kgcoop_hm_above_coop": lambda: f"{c['kgcoop']:.1f} vs {c['coop']:.1f}",
            "two_best_prompt_the_image_encoder": lambda: ", ".join(c["two_best"]),
            "zero_shot_within_50_85": lambda: "{:.1f} / {:.1f}".format(*c["average"]),
            "one_domain": lambda: c["why"]}[key]()
    return f"{show if key in TEXT else show.replace('-', '−')} {mark}"


def load_criteria(profile: str, root: Path | str = ".") -> dict | None:
    """The committed criteria file of `profile`, root/results/<profile>/criteria.json, as `make criteria` wrote it
    (never a $DPT_RESULTS copy: the table states the project's measurement); None where it has not been run."""
    from .profiles import get_profile
    path = Path(root) / "results" / get_profile(profile).results / "criteria.json"
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("format") == "dpt-miniature-criteria" else None


def fidelity_table(root: Path | str = ".", profiles=FIDELITY_PROFILES) -> list[dict]:
    """One row per profile: {'profile', 'datasets', 'default', criterion key: cell text}, the published
    ViT-B/16 averages first. A profile whose criteria file is missing says 'not measured'."""
    from .profiles import DEFAULT_MINIATURE, get_profile
    ref = {**published_criteria(), "one_domain": {"holds": True, "why": "one domain per benchmark"}}
    ref["ranking_spearman"] = None  # the reference itself: no ranking to compare
    out = [{"profile": "real CLIP ViT-B/16 (published)", "datasets": "11 benchmarks",
            **{k: ("—" if ref[k] is None else _cell(k, ref[k])) for k, _ in COLUMNS}}]
    for name in profiles:
        doc, p = load_criteria(name, root), get_profile(name)
        found = dict(doc["criteria"]) if doc else {}
        found["one_domain"] = {"holds": p.one_domain[0], "why": p.one_domain[1]}
        label = name + (" (default)" if name == DEFAULT_MINIATURE else "")
        out.append({"profile": label, "datasets": ", ".join(doc["datasets"]) if doc else ", ".join(p.datasets),
                    **{k: _cell(k, found.get(k)) for k, _ in COLUMNS}})
    return out


def format_fidelity(rows: list[dict]) -> str:
    """The table as Markdown: a column per profile, a line per criterion (it reads down, like a checklist)."""
    head = "| criterion | " + " | ".join(r["profile"] for r in rows) + " |"
    lines = [head, "|" + "---|" * (len(rows) + 1), "| datasets | " + " | ".join(r["datasets"] for r in rows) + " |"]
    lines += [f"| {title} | " + " | ".join(r[key] for r in rows) + " |" for key, title in COLUMNS]
    return "\n".join(lines)


def format_diagnostics(profile: str, root: Path | str = ".") -> str:
    """A profile's datasets, one line each: the ranking on that dataset alone and the three diagnostics
    (dpt.experiments.diagnostics), each with its numbers and ✓ or ✗, as Markdown; from its criteria file."""
    from ..data.miniature import MAIN_STYLE
    doc = load_criteria(profile, root)
    if not doc or "diagnostics" not in doc:
        return f"{profile}: not measured (make criteria PROFILE={profile})"
    mark = lambda c: "✓" if c["holds"] else "✗"  # noqa: E731
    num = lambda x, fmt=".1f": format(x, fmt).replace("-", "−")  # noqa: E731
    needed = doc["per_dataset"][doc["datasets"][0]]["ranking_spearman"]["needed"]
    lines = [f"| dataset | ranking ρ ≥ {needed:g} | headroom: probe vs ZS base | names: CoOp novel − ZS, random "
             f"split | domain: ZS here vs as {MAIN_STYLE}; MaPLe novel − ZS |", "|---|---|---|---|---|"]
    for d in doc["datasets"]:
        g, rank = doc["diagnostics"][d], doc["per_dataset"][d]["ranking_spearman"]
        h, n, s = g["headroom"], g["idiosyncratic_names"], g["shared_domain"]
        here = (f"drawn as {MAIN_STYLE}s" if s.get("drawn_as_main_rendering") else
                f"{num(s['zero_shot_here'])} vs {num(s[f'zero_shot_as_{MAIN_STYLE}'])}")
        lines.append(f"| {d} | {num(rank['rho'], '.2f')} {mark(rank)} | {num(h['linear_probe_base'])} vs "
                     f"{num(h['zero_shot_base'])} {mark(h)} | "
                     f"{num(n['coop_novel_minus_zero_shot_on_random_split'], '+.1f')} {mark(n)} | "
                     f"{here}; {num(s['maple_novel_minus_zero_shot'], '+.1f')} {mark(s)} |")
    return "\n".join(lines)
