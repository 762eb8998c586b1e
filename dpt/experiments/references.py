"""The papers the course builds on, each once, so every notebook cites them the same way.

    display(references("coop", "cocoop"))      # a notebook's references cell

Links are the papers' arXiv pages (each checked against the authors' repositories' READMEs or the papers' own
reference lists); the venue is where the paper was published.
"""
from __future__ import annotations

REFERENCES = {  # key: (authors, title, venue and year, link)
    "clip": ("Radford et al.", "Learning Transferable Visual Models From Natural Language Supervision", "ICML 2021",
             "https://arxiv.org/abs/2103.00020"),
    "dpt": ("Qian Zhang", "Generalizable Prompt Tuning for Vision-Language Models",
            "arXiv 2024; the method this course implements, written from its abstract and the opening of its "
            "introduction (its loss, critic, mixup and soft/hand mix are this project's reconstruction: read the paper's "
            "method section, it may differ)",
            "https://arxiv.org/abs/2410.03189"),
    "coop": ("Zhou, Yang, Loy, Liu", "Learning to Prompt for Vision-Language Models (CoOp)", "IJCV 2022",
             "https://arxiv.org/abs/2109.01134"),
    "cocoop": ("Zhou, Yang, Loy, Liu", "Conditional Prompt Learning for Vision-Language Models (CoCoOp)", "CVPR 2022",
               "https://arxiv.org/abs/2203.05557"),
    "kgcoop": ("Yao, Zhang, Xu", "Visual-Language Prompt Tuning with Knowledge-guided Context Optimization (KgCoOp)",
               "CVPR 2023", "https://arxiv.org/abs/2303.13283"),
    "prograd": ("Zhu, Niu, Han, Wu, Zhang", "Prompt-aligned Gradient for Prompt Tuning (ProGrad)", "ICCV 2023",
                "https://arxiv.org/abs/2205.14865"),
    "maple": ("Khattak, Rasheed, Maaz, Khan, Khan", "MaPLe: Multi-modal Prompt Learning (and its IVLP baseline)",
              "CVPR 2023", "https://arxiv.org/abs/2210.03117"),
    "promptsrc": ("Khattak, Wasim, Naseer, Khan, Yang, Khan",
                  "Self-regulating Prompts: Foundational Model Adaptation without Forgetting (PromptSRC)", "ICCV 2023",
                  "https://arxiv.org/abs/2307.06948"),
    "infonce": ("van den Oord, Li, Vinyals", "Representation Learning with Contrastive Predictive Coding (InfoNCE)",
                "arXiv 2018", "https://arxiv.org/abs/1807.03748"),
    "mine": ("Belghazi et al.", "Mutual Information Neural Estimation (MINE, the Donsker-Varadhan bound)", "ICML 2018",
             "https://arxiv.org/abs/1801.04062"),
    "nwj": ("Nguyen, Wainwright, Jordan",
            "Estimating Divergence Functionals and the Likelihood Ratio by Convex Risk Minimization (NWJ)",
            "IEEE Transactions on Information Theory 2010", "https://arxiv.org/abs/0809.0853"),
    "poole": ("Poole, Ozair, van den Oord, Alemi, Tucker", "On Variational Bounds of Mutual Information", "ICML 2019",
              "https://arxiv.org/abs/1905.06922"),
    "dim": ("Hjelm et al.", "Learning Deep Representations by Mutual Information Estimation and Maximization "
            "(Deep InfoMax, the JSD objective)", "ICLR 2019", "https://arxiv.org/abs/1808.06670"),
    "mixup": ("Zhang, Cisse, Dauphin, Lopez-Paz", "mixup: Beyond Empirical Risk Minimization", "ICLR 2018",
              "https://arxiv.org/abs/1710.09412"),
}


def reference_lines(*keys: str) -> list[str]:
    """One Markdown line per paper, in the order given."""
    unknown = [k for k in keys if k not in REFERENCES]
    if unknown:
        raise KeyError(f"no reference {unknown[0]!r}; known: {', '.join(REFERENCES)}")
    return [f"* {a.rstrip('.') + '. ' if a else ''}[{t}]({link}). {v}." for a, t, v, link in (REFERENCES[k] for k in keys)]


def references(*keys: str):
    """The references cell of a notebook: a Markdown list (shown with IPython's display)."""
    from IPython.display import Markdown
    return Markdown("**References**\n\n" + "\n".join(reference_lines(*keys)))


# What the method's paper states (its abstract: arXiv 2410.03189) and what this project reconstructed, piece by
# piece, with what each piece is based on. Notebooks 00 and 05 and docs/method.md show it.
STATED = ("two views of the text modality, a learnable soft prompt and a hand-crafted prompt; their mutual "
          "information maximised with a learnable estimator; a class-wise augmentation from the visual modality")
RECONSTRUCTED = (
    ("the loss", "cross-entropy on the shots plus an InfoNCE lower bound on the two views' mutual information "
                 "(van den Oord et al.'s bound; notebook 03 compares it with three other lower bounds)"),
    ("the critic", "a dot product with a learned scale, this project's choice: the simplest critic, which "
                   "passes neither view through a network of its own (notebook 03 shows that even it can rate a "
                   "prompt that moved far from the hand-crafted one as high as one that stayed near it; notebook 07 "
                   "compares it with a critic that has such networks)"),
    ("the augmentation", "mixup (Zhang et al.) of cached image *features* across two classes, the mixed text "
                         "features of both views as extra pairs for the MI term (notebook 04)"),
    ("the soft/hand mix at test time", "class features that mix the soft view with the hand-crafted one, its "
                               "weight tuned on validation together with the MI weight ([the method's page]"
                               "(../docs/method.md#the-method-and-its-defaults))"),
)


def attribution():
    """Markdown: what the paper states and what this course reconstructed (and from what)."""
    from IPython.display import Markdown
    return Markdown("**What is the paper's and what is this project's.** The method's paper is public (Qian Zhang, "
                    "*Generalizable Prompt Tuning for Vision-Language Models*, [arXiv 2410.03189]"
                    "(https://arxiv.org/abs/2410.03189)). This implementation was written from its abstract and the "
                    "opening of its introduction. Those state "
                    f"{STATED}. The rest is this project's reconstruction, and a learner should read the paper's "
                    "method section, which may differ:\n\n"
                    + "\n".join(f"* **{what}**: {how};" for what, how in RECONSTRUCTED[:-1])
                    + f"\n* **{RECONSTRUCTED[-1][0]}**: {RECONSTRUCTED[-1][1]}.")
