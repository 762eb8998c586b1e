"""Published numbers the course and the README set beside ours, each with the source it was read from (never from
memory). Real CLIP ViT-B/16, 16 shots, base-to-novel average over the 11 benchmarks: base / novel / HM."""
from __future__ import annotations

BASE_TO_NOVEL = {  # method: (base, novel, hm, source)
    "zeroshot": (69.34, 74.22, 71.70, "htyao89/KgCoOp README.md"),
    "coop": (82.69, 63.22, 71.66, "CoCoOp paper (Zhou et al., CVPR 2022), Table 1"),
    "cocoop": (80.47, 71.69, 75.83, "htyao89/KgCoOp README.md"),
    "prograd": (82.48, 70.75, 76.16, "htyao89/KgCoOp README.md"),
    "kgcoop": (80.73, 73.60, 77.00, "htyao89/KgCoOp README.md"),
    "ivlp": (84.21, 71.79, 77.51, "muzairkhattak/PromptSRC README.md (commit bb95c77)"),
    "maple": (82.28, 75.14, 78.55, "muzairkhattak/multimodal-prompt-learning README.md (commit 69bce21)"),
    "promptsrc": (84.26, 76.10, 79.97, "muzairkhattak/PromptSRC README.md (commit bb95c77)"),
}


def published(method: str) -> dict:
    """{'base', 'novel', 'hm', 'source'} of `method`'s published ViT-B/16 average."""
    base, novel, hm, source = BASE_TO_NOVEL[method]
    return {"base": base, "novel": novel, "hm": hm, "source": source}

# ImageNet (all classes, 16 shots) -> the other ten datasets, average accuracy: muzairkhattak/ProText README.md;
# -> ImageNet-V2, -Sketch, -A, -R, average: Vill-Lab/2024-AAAI-HPT README.md (as ../shared/README.md records them)
CROSS_DATASET = {"zeroshot": 65.15, "coop": 63.88, "cocoop": 65.74, "maple": 66.30, "promptsrc": 65.81}
DOMAIN_GENERALISATION = {"zeroshot": 57.17, "coop": 59.28, "cocoop": 59.90, "maple": 60.26}
TRANSFER_SOURCES = {"cross_dataset": "muzairkhattak/ProText README.md",  # 08 · the two sources above
                    "domain_generalisation": "Vill-Lab/2024-AAAI-HPT README.md"}
