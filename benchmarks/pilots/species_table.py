"""Print the miniature-v3 species pilots (results/pilots/miniature_v3_pilots.json) as one Markdown table.

    .venv/bin/python benchmarks/pilots/species_table.py
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EIGHT = ("zeroshot", "coop", "cocoop", "prograd", "kgcoop", "ivlp", "maple", "promptsrc")
SHORT = {"coop_base_at_least_zero_shot_plus_5": "CoOp b≥ZS+5", "coop_novel_at_most_zero_shot_minus_3": "CoOp n≤ZS−3",
         "cocoop_novel_at_least_coop_plus_3": "CoCoOp n≥CoOp+3", "kgcoop_hm_above_coop": "KgCoOp HM>CoOp",
         "two_best_prompt_the_image_encoder": "top2 image", "zero_shot_within_50_85": "ZS 50-85",
         "maple_novel_at_least_zs_minus_1": "MaPLe n≥ZS−1"}


def main(path=ROOT / "results" / "pilots" / "miniature_v3_pilots.json"):
    doc = json.loads(Path(path).read_text())
    print("| pilot | probe−ZS base | CoOp n−ZS | render gap / MaPLe n−ZS | "
          + " | ".join(EIGHT) + " | phenomena held | ρ | min |")
    print("|---" * (len(EIGHT) + 7) + "|")
    for r in doc["pilots"]:
        d, m = r["diagnostics"], r["methods"]
        cells = [f"{m[k]['base']:.1f}/{m[k]['novel']:.1f}/{m[k]['hm']:.1f}" if "hm" in m.get(k, {}) else "fail"
                 for k in EIGHT]
        held = [SHORT[k] for k, v in r["phenomena"].items() if v["holds"]]
        print(f"| {r['name']} | {d['headroom']:+.1f} {'✓' if d['headroom_holds'] else '✗'} "
              f"| {d['coop_novel_minus_zs']:+.1f} {'✓' if d['idiosyncratic_holds'] else '✗'} "
              f"| {d['rendering_gap']:+.1f} / {d['maple_novel_minus_zs']:+.1f} {'✓' if d['domain_holds'] else '✗'} | "
              + " | ".join(cells) + f" | {r['phenomena_held']}/7: {', '.join(held)} | {r['rho']} | {r['minutes']} |")




def seed_means(path=ROOT / "results" / "pilots" / "miniature_v3_pilots.json"):
    """Pilots evaluated at several method seeds on one checkpoint (rows named <pilot>_seedN reuse <pilot>'s
    checkpoint): each method's mean base / novel / HM over the seeds, the criteria on the means, ρ per seed."""
    sys.path.insert(0, str(ROOT))
    from dpt.experiments.fidelity import criteria
    doc = json.loads(Path(path).read_text())
    groups = {}
    for r in doc["pilots"]:
        groups.setdefault(r["name"].split("_seed")[0], []).append(r)
    print("\n| pilot (seeds) | " + " | ".join(EIGHT) + " | ρ per seed | ρ of mean HM | phenomena held (mean) |")
    print("|---" * (len(EIGHT) + 4) + "|")
    for name, rows in groups.items():
        if len(rows) < 2 or not all(all("hm" in r["methods"].get(m, {}) for m in EIGHT) for r in rows):
            continue
        mean = {m: {k: sum(r["methods"][m][k] for r in rows) / len(rows) for k in ("base", "novel", "hm")}
                for m in EIGHT}
        c = criteria(mean)
        held = [SHORT[k] for k, v in c.items() if k in SHORT and v["holds"]]
        if mean["maple"]["novel"] >= mean["zeroshot"]["novel"] - 1:
            held.append(SHORT["maple_novel_at_least_zs_minus_1"])
        seeds = ",".join(str(r["seed"]) for r in rows)
        print(f"| {name} ({seeds}) | " + " | ".join(f"{mean[m]['base']:.1f}/{mean[m]['novel']:.1f}/{mean[m]['hm']:.1f}"
                                                   for m in EIGHT)
              + f" | {', '.join(str(r['rho']) for r in rows)} | {c['ranking_spearman']['rho']} | {len(held)}/7: "
              + f"{', '.join(held)} |")


if __name__ == "__main__":
    main(*sys.argv[1:])
    seed_means(*sys.argv[1:])
