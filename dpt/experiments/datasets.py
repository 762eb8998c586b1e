"""Loaders for the 11 base-to-novel benchmarks, in CoOp's on-disk layout or through torchvision, and for
ImageNet's four test-only variants (domain generalisation) in CoOp's layout.

Preferred: CoOp's folders with `split_zhou_*.json` (see CoOp's DATASETS.md), which fix train / val /
test and the class names used by every paper. Otherwise torchvision's dataset classes (with
`download=True` where torchvision can download), with 20% of train held out (seeded) as val.
The variants (CoOp's datasets/imagenetv2.py, imagenet_sketch.py, imagenet_a.py, imagenet_r.py) have a
test split only; -A and -R hold 200 of ImageNet's classes, named through `classnames.txt`.

Also the names the commands accept (aliases such as 'miniature' or 'benchmarks', matched ignoring case, '_' and
'-'), and `load_datasets`, which names every missing dataset in one error. The real datasets live in the lab, as
open_clip_train's data does beside open_clip: importing the lab registers their loaders in `dpt.data.LOADERS`, so
that `dpt.data.load_dataset` loads them too.
"""
from __future__ import annotations

import difflib
import json
import random
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from PIL import Image

from ..data import LOADERS, MINIATURE_CONTROLS, MINIATURE_DATASETS, MINIATURE_DOMAINS, MINIATURE_HELDOUT
from ..data import MINIATURE_SPECS, MINIATURE_V2_DATASETS, MINIATURE_V2_DOMAINS, MINIATURE_V2_HELDOUT, OBJECT_SPECS
from ..data import load_dataset
from ..data.dataset import ClassificationDataset, Item, subsample_classes
from ..errors import BadInput, DptError, MissingData, cause


# Per-dataset templates for the 11 benchmarks and ImageNet's 4 variants: CoOp's CUSTOM_TEMPLATES (KaiyangZhou/CoOp trainers/zsclip.py,
# used for zero-shot CLIP and the hand-crafted view). KgCoOp's copy differs only for DTD ("a photo of a {}, a
# type of texture."); we keep CoOp's "{} texture.", which CoOp/CoCoOp's zero-shot baselines used. The
# miniature's templates live in its dataset specs.
BENCHMARK_TEMPLATES = {
    "OxfordPets": "a photo of a {}, a type of pet.",
    "Flowers102": "a photo of a {}, a type of flower.",
    "FGVCAircraft": "a photo of a {}, a type of aircraft.",
    "DTD": "{} texture.",
    "EuroSAT": "a centered satellite photo of {}.",
    "StanfordCars": "a photo of a {}.",
    "Food101": "a photo of {}, a type of food.",
    "SUN397": "a photo of a {}.",
    "Caltech101": "a photo of a {}.",
    "UCF101": "a photo of a person doing {}.",
    "ImageNet": "a photo of a {}.",
    "ImageNetV2": "a photo of a {}.",
    "ImageNetSketch": "a photo of a {}.",
    "ImageNetA": "a photo of a {}.",
    "ImageNetR": "a photo of a {}.",
}
@dataclass(frozen=True)
class BenchmarkSpec:
    name: str
    coop_dir: str  # folder under the data root, as in CoOp
    image_dir: str  # image folder inside coop_dir
    split_file: str | None  # CoOp split file inside coop_dir
    torchvision: Callable | None = None  # (root, split, download) -> torchvision dataset
    tv_dir: str = ""  # torchvision's folder under the data root (its first part) and a path only its layout has
    downloadable: bool = False  # torchvision can still download it (download=True)


def _tv(cls_name: str, split_arg: str = "split", **kw):
    def make(root, split, download):
        import torchvision.datasets as tvd
        cls = getattr(tvd, cls_name)
        args = dict(kw)
        if split_arg:
            args[split_arg] = split
        return cls(root=root, download=download, **args)
    return make


BENCHMARKS: dict[str, BenchmarkSpec] = {s.name: s for s in [
    BenchmarkSpec("ImageNet", "imagenet", "images", None),
    BenchmarkSpec("Caltech101", "caltech-101", "101_ObjectCategories", "split_zhou_Caltech101.json"),
    BenchmarkSpec("OxfordPets", "oxford_pets", "images", "split_zhou_OxfordPets.json",
                  _tv("OxfordIIITPet", "split"), "oxford-iiit-pet/annotations", True),
    # torchvision reads a StanfordCars folder it finds, but can no longer download one (the original URL is gone)
    BenchmarkSpec("StanfordCars", "stanford_cars", "", "split_zhou_StanfordCars.json", _tv("StanfordCars", "split"),
                  "stanford_cars/devkit", False),
    BenchmarkSpec("Flowers102", "oxford_flowers", "jpg", "split_zhou_OxfordFlowers.json", _tv("Flowers102", "split"),
                  "flowers-102/jpg", True),
    BenchmarkSpec("Food101", "food-101", "images", "split_zhou_Food101.json", _tv("Food101", "split"), "food-101/meta",
                  True),
    BenchmarkSpec("FGVCAircraft", "fgvc_aircraft", "images", None),
    BenchmarkSpec("SUN397", "sun397", "SUN397", "split_zhou_SUN397.json"),
    BenchmarkSpec("DTD", "dtd", "images", "split_zhou_DescribableTextures.json", _tv("DTD", "split"), "dtd/dtd", True),
    BenchmarkSpec("EuroSAT", "eurosat", "2750", "split_zhou_EuroSAT.json"),
    BenchmarkSpec("UCF101", "ucf101", "UCF-101-midframes", "split_zhou_UCF101.json"),
]}


# ImageNet's test-only variants: folder under the data root, image folder inside it
IMAGENET_VARIANTS: dict[str, BenchmarkSpec] = {s.name: s for s in [
    BenchmarkSpec("ImageNetV2", "imagenetv2", "imagenetv2-matched-frequency-format-val", None),
    BenchmarkSpec("ImageNetSketch", "imagenet-sketch", "images", None),
    BenchmarkSpec("ImageNetA", "imagenet-adversarial", "imagenet-a", None),
    BenchmarkSpec("ImageNetR", "imagenet-rendition", "imagenet-r", None),
]}


# Where each dataset comes from (KaiyangZhou/CoOp@ff61507 DATASETS.md, which also has the split files' links).
COOP_DATASETS_MD = "https://github.com/KaiyangZhou/CoOp/blob/main/DATASETS.md"
SOURCES = {
    "ImageNet": "image-net.org (train/ and val/ under imagenet/images/) + CoOp's classnames.txt",
    "Caltech101": "101_ObjectCategories.tar.gz (vision.caltech.edu) + split_zhou_Caltech101.json",
    "OxfordPets": "images.tar.gz and annotations.tar.gz (robots.ox.ac.uk/~vgg/data/pets) + split_zhou_OxfordPets.json",
    "StanfordCars": "cars_train.tgz, cars_test.tgz, car_devkit.tgz, cars_test_annos_withlabels.mat (ai.stanford.edu/~jkrause)"
                    " + split_zhou_StanfordCars.json",
    "Flowers102": "102flowers.tgz and imagelabels.mat (robots.ox.ac.uk/~vgg/data/flowers/102) + cat_to_name.json and "
                  "split_zhou_OxfordFlowers.json",
    "Food101": "food-101.tar.gz (data.vision.ee.ethz.ch) + split_zhou_Food101.json",
    "FGVCAircraft": "fgvc-aircraft-2013b.tar.gz (robots.ox.ac.uk/~vgg/data/fgvc-aircraft): its data/ folder renamed fgvc_aircraft/",
    "SUN397": "SUN397.tar.gz and Partitions.zip (vision.princeton.edu) + split_zhou_SUN397.json",
    "DTD": "dtd-r1.0.1.tar.gz (robots.ox.ac.uk/~vgg/data/dtd) + split_zhou_DescribableTextures.json",
    "EuroSAT": "EuroSAT.zip (madm.dfki.de) + split_zhou_EuroSAT.json",
    "UCF101": "UCF-101-midframes.zip (CoOp's link) + split_zhou_UCF101.json",
    "ImageNetV2": "imagenetv2-matched-frequency.tar.gz (github.com/modestyachts/ImageNetV2) + ImageNet's classnames.txt",
    "ImageNetSketch": "github.com/HaohanWang/ImageNet-Sketch + ImageNet's classnames.txt",
    "ImageNetA": "github.com/hendrycks/natural-adv-examples + ImageNet's classnames.txt",
    "ImageNetR": "github.com/hendrycks/imagenet-r + ImageNet's classnames.txt",
}


def _open(path) -> Image.Image:
    return Image.open(path)


DOWNLOADABLE = tuple(s.name for s in BENCHMARKS.values() if s.downloadable)


def _missing(spec: BenchmarkSpec, root: Path, looked: list[Path], download: bool = False) -> MissingData:
    where = "; ".join(str(p) for p in looked)
    tv = " or download=True to let torchvision fetch it" if spec.downloadable else ""
    if download and not spec.downloadable:
        tv = f" (torchvision cannot fetch it: it downloads only {', '.join(DOWNLOADABLE)})"
    return MissingData(
        f"{spec.name} not found under data root {root}. Looked for: {where}. "
        f"Prepare it as in CoOp's DATASETS.md ({COOP_DATASETS_MD}): folder '{spec.coop_dir}/' with "
        f"{SOURCES[spec.name]}{tv}; `python -m dpt data --data-root {root}` checks every dataset, or run on the "
        "offline miniature (the 'miniature' profile).")


def _from_split_json(spec: BenchmarkSpec, folder: Path) -> ClassificationDataset:
    path = folder / spec.split_file
    try:
        split = json.loads(path.read_text())
        image_dir = folder / spec.image_dir
        names: dict[int, str] = {}
        splits = {}
        for key in ("train", "val", "test"):
            items = []
            for impath, label, cname in split[key]:
                label = int(label)
                if label < 0 or names.setdefault(label, cname) != cname:
                    problem = (f"label {label} is negative" if label < 0 else
                               f"label {label} is {cname!r} here and {names[label]!r} earlier")
                    raise BadInput(f"split file {path}, {key} image {impath}: {problem}; labels must run 0..C-1 "
                                   "with one class name each: re-download or fix the file")
                items.append(Item(str(image_dir / impath), label))
            splits[key] = tuple(items)
    except BadInput:
        raise
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as e:
        raise BadInput(f"split file {path} is malformed ({type(e).__name__}: {e}); it must be CoOp's JSON "
                       "{train, val, test: [[image, label, classname], ...]}: re-download it") from e
    if not names:
        raise BadInput(f"{path} lists no images")
    gaps = sorted(set(range(max(names) + 1)) - set(names))
    if gaps:
        raise BadInput(f"split file {path} has gaps in its labels (no images for label(s) {gaps[:10]}); "
                       "labels must run 0..C-1: re-download or fix the file")
    classnames = tuple(names[i] for i in range(max(names) + 1))
    return ClassificationDataset(spec.name, classnames, BENCHMARK_TEMPLATES[spec.name], loader=_open, **splits)


FGVC_LISTS = (("train", "images_variant_train.txt"), ("val", "images_variant_val.txt"),
              ("test", "images_variant_test.txt"))


def _fgvc(spec: BenchmarkSpec, folder: Path) -> ClassificationDataset:
    """CoOp's FGVCAircraft: the `data` folder of fgvc-aircraft-2013b (variants.txt, images_variant_*.txt)."""
    classnames = tuple(l.strip() for l in (folder / "variants.txt").read_text().splitlines() if l.strip())
    index = {c: i for i, c in enumerate(classnames)}
    missing = [folder / f for _, f in FGVC_LISTS if not (folder / f).is_file()]
    if missing:
        raise MissingData(f"FGVCAircraft: {', '.join(map(str, missing))} not found beside {folder / 'variants.txt'}; "
                          "keep the whole data/ folder of fgvc-aircraft-2013b as fgvc_aircraft/ (CoOp's DATASETS.md)")
    splits = {}
    for key, fname in FGVC_LISTS:
        items = []
        for n, line in enumerate((folder / fname).read_text().splitlines(), 1):
            if line.strip():
                image_id, _, variant = line.strip().partition(" ")
                if variant not in index:
                    raise BadInput(f"{folder / fname} line {n}: variant {variant!r} is not in variants.txt; "
                                   "re-extract fgvc-aircraft-2013b")
                items.append(Item(str(folder / "images" / f"{image_id}.jpg"), index[variant]))
        splits[key] = tuple(items)
    return ClassificationDataset(spec.name, classnames, BENCHMARK_TEMPLATES[spec.name], loader=_open, **splits)


def _imagenet(spec: BenchmarkSpec, folder: Path) -> ClassificationDataset:
    """CoOp's ImageNet: images/train/<wnid>/*, images/val/<wnid>/*, classnames.txt ('<wnid> <name>' lines).
    As in CoOp, val serves as test; val for model selection is 1/50 of train (seeded)."""
    names = read_classnames(folder / "classnames.txt")
    wnids, classnames = list(names), tuple(names.values())

    def scan(sub):
        items = []
        for label, w in enumerate(wnids):
            for p in sorted((folder / spec.image_dir / sub / w).glob("*")):
                items.append(Item(str(p), label))
        return items

    train = scan("train")
    rng = random.Random(0)
    held = set(rng.sample(range(len(train)), k=len(train) // 50))
    return ClassificationDataset(spec.name, classnames, BENCHMARK_TEMPLATES[spec.name], loader=_open,
                                 train=tuple(t for i, t in enumerate(train) if i not in held),
                                 val=tuple(t for i, t in enumerate(train) if i in held), test=tuple(scan("val")))


def read_classnames(path: Path) -> dict[str, str]:
    """CoOp's ImageNet classnames.txt: one '<wnid> <class name>' line per class, in label order."""
    out = {}
    for line in path.read_text().splitlines():
        if line.strip():
            wnid, _, name = line.strip().partition(" ")
            if not name:
                raise BadInput(f"{path}: line {line!r} is not '<wnid> <class name>'; use CoOp's classnames.txt")
            out[wnid] = name.strip()
    return out


def _folders(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def _imagenet_variant(spec: BenchmarkSpec, folder: Path) -> ClassificationDataset:
    """A test-only ImageNet variant. V2: folders 0..999 are ImageNet's labels. Sketch, -A, -R: one folder per
    wnid, labelled in sorted order (-A and -R: 200 of them, named through ImageNet's classnames.txt)."""
    names = read_classnames(folder / "classnames.txt")
    image_dir = folder / spec.image_dir
    if spec.name == "ImageNetV2":
        wnids = list(names)
        pairs = [(str(i), wnids[i]) for i in range(len(wnids))]
    else:
        pairs = [(f, f) for f in _folders(image_dir)]
        unknown = [f for f, _ in pairs if f not in names]
        if unknown:
            raise BadInput(f"{spec.name}: folder(s) {unknown[:5]} of {image_dir} are not wnids listed in "
                           f"{folder / 'classnames.txt'}; use ImageNet's classnames.txt from CoOp's DATASETS.md")
    test = [Item(str(p), label) for label, (sub, _) in enumerate(pairs)
            for p in sorted((image_dir / sub).glob("*")) if p.is_file() and not p.name.startswith(".")]
    if not test:
        raise BadInput(f"{spec.name}: no images under {image_dir}; prepare it as in CoOp's DATASETS.md")
    return ClassificationDataset(spec.name, tuple(names[w] for _, w in pairs), BENCHMARK_TEMPLATES[spec.name],
                                 train=(), val=(), test=tuple(test), loader=_open)


def _labels_of(ds) -> list[int]:
    for attr in ("_labels", "targets", "y"):
        if hasattr(ds, attr):
            return [int(v) for v in getattr(ds, attr)]
    if hasattr(ds, "_samples"):
        return [int(l) for _, l in ds._samples]
    raise TypeError(f"cannot read labels of {type(ds).__name__}")


def _tv_item(ds, index: int) -> Image.Image:
    return ds[index][0]


def _from_torchvision(spec: BenchmarkSpec, root: Path, download: bool) -> ClassificationDataset:
    parts = {}
    for split, candidates in (("train", ("train", "trainval")), ("val", ("val",)), ("test", ("test",))):
        parts[split] = None
        for c in candidates:
            try:
                parts[split] = spec.torchvision(str(root), c, download)
                break
            except ValueError:  # this dataset has no such split
                continue
    train_ds = parts["train"]
    classes = getattr(train_ds, "classes", None) or getattr(train_ds, "categories", None)
    if classes is None:
        raise MissingData(f"torchvision's {spec.name} exposes no class names; use CoOp's split files instead")
    splits = {}
    for split, ds in parts.items():
        if ds is None:
            continue
        splits[split] = [Item((split, i), l) for i, l in enumerate(_labels_of(ds))]
    if "val" not in splits:  # hold out 20% of train, seeded
        rng = random.Random(0)
        train = splits["train"]
        held = set(rng.sample(range(len(train)), k=len(train) // 5))
        splits["val"] = [t for i, t in enumerate(train) if i in held]
        splits["train"] = [t for i, t in enumerate(train) if i not in held]

    def load(source):
        split, i = source
        return _tv_item(parts[split], i)

    return ClassificationDataset(spec.name, tuple(c.replace("_", " ") for c in classes), BENCHMARK_TEMPLATES[spec.name],
                                 loader=load, **{k: tuple(v) for k, v in splits.items()})


def load_benchmark(name: str, root: str | Path | None, download: bool = False) -> ClassificationDataset:
    """Benchmark `name` from CoOp's folder under `root` (or torchvision's layout); a file that the disk cannot give
    (an I/O error, no permission, a folder where a file belongs) is one line that names it."""
    try:
        return _load_benchmark(name, root, download)
    except DptError:
        raise
    except OSError as e:
        where = e.filename or (Path(root).expanduser() / (BENCHMARKS.get(name) or IMAGENET_VARIANTS[name]).coop_dir)
        raise BadInput(f"{name}: {where} cannot be read ({e.strerror or cause(e)}); check the disk and the file's "
                       "permissions, or restore the dataset") from None


def _load_benchmark(name: str, root: str | Path | None, download: bool = False) -> ClassificationDataset:
    if name not in BENCHMARKS and name not in IMAGENET_VARIANTS:
        raise BadInput(f"unknown dataset {name!r}; valid: {', '.join([*BENCHMARKS, *IMAGENET_VARIANTS])}")
    spec = BENCHMARKS.get(name) or IMAGENET_VARIANTS[name]
    if root is None:
        raise MissingData(f"{name} needs a data root: pass root=DIR pointing at the "
                          "folder that holds the CoOp-style dataset folders, or run on the offline miniature "
                          "(the 'miniature' profile).")
    root = Path(root).expanduser()
    folder = root / spec.coop_dir
    looked = []
    if name == "FGVCAircraft":
        looked.append(folder / "variants.txt")
        if looked[-1].is_file():
            return _fgvc(spec, folder)
    elif name in IMAGENET_VARIANTS:
        looked += [folder / "classnames.txt", folder / spec.image_dir]
        if all(p.exists() for p in looked):
            return _imagenet_variant(spec, folder)
    elif name == "ImageNet":
        looked.append(folder / "classnames.txt")
        if looked[-1].is_file() and (folder / spec.image_dir / "train").is_dir():
            return _imagenet(spec, folder)
    else:
        looked.append(folder / spec.split_file)
        if looked[-1].is_file():
            return _from_split_json(spec, folder)
    if spec.torchvision is not None:
        tv_folder = root / spec.tv_dir.split("/")[0]
        looked.append(Path(f"{root / spec.tv_dir} (torchvision's layout)"))
        if download and spec.downloadable:
            return _download(spec, root)
        if (root / spec.tv_dir).exists():  # torchvision's own layout: only then is its error (a file, scipy) the cause
            try:
                return _from_torchvision(spec, root, False)
            except ImportError as e:
                raise MissingData(f"{spec.name}: torchvision reads {tv_folder} with {e.name or 'a package'}, which is "
                                  f"not installed: pip install {e.name or 'scipy'}") from None
            except (RuntimeError, FileNotFoundError) as e:  # torchvision: "Dataset not found or corrupted"
                raise MissingData(f"{spec.name}: torchvision could not read {tv_folder} ({cause(e)})") from None
    raise _missing(spec, root, looked, download)


def _download(spec: BenchmarkSpec, root: Path) -> ClassificationDataset:
    """torchvision's download into root/<its folder>; offline, one line and no empty folder left behind."""
    folder = root / spec.tv_dir.split("/")[0]
    before = _new_folder_scan(root, folder)
    try:
        return _from_torchvision(spec, root, True)
    except ImportError as e:  # downloaded, but torchvision reads it with a package that is not here (scipy)
        raise MissingData(f"{spec.name} was downloaded into {folder}, but torchvision reads it with "
                          f"{e.name or 'a package'}, which is not installed: pip install {e.name or 'scipy'}, then run "
                          "again") from None
    except (OSError, RuntimeError) as e:  # URLError is an OSError
        for d in sorted(_new_folder_scan(root, folder) - before, key=lambda p: -len(p.parts)):  # the new ones, if empty
            if d.is_dir() and not any(d.iterdir()):
                d.rmdir()
        reason = getattr(e, "reason", None) or (str(e).splitlines()[0] if str(e) else type(e).__name__)
        raise MissingData(f"could not download {spec.name} with torchvision into {folder} ({reason}). Without a "
                          f"network, fetch it on a machine that has one ({SOURCES[spec.name]}; CoOp's DATASETS.md: "
                          f"{COOP_DATASETS_MD}) and copy it to {root / spec.coop_dir}") from None


def _new_folder_scan(root: Path, folder: Path) -> set[Path]:
    """The data root (if it exists) and every folder in `folder` (torchvision's, under it)."""
    return ({root} if root.is_dir() else set()) | ({folder, *(p for p in folder.rglob("*") if p.is_dir())}
                                                 if folder.is_dir() else set())


LOADERS.update({name: load_benchmark for name in (*BENCHMARKS, *IMAGENET_VARIANTS)})

ALL_DATASETS = (*MINIATURE_SPECS, *OBJECT_SPECS, *BENCHMARKS, *IMAGENET_VARIANTS)
# names that stand for several datasets
ALIASES = {"miniature": MINIATURE_DATASETS, "miniature-v2": MINIATURE_V2_DATASETS,
           "miniature-v2-heldout": MINIATURE_V2_HELDOUT, "miniature-v2-domains": MINIATURE_V2_DOMAINS, "miniature-domains": MINIATURE_DOMAINS,
           "miniature-control": MINIATURE_CONTROLS, "miniature-heldout": MINIATURE_HELDOUT, "benchmarks": tuple(BENCHMARKS),
           "imagenet-variants": tuple(IMAGENET_VARIANTS)}


def resolve_dataset_names(names) -> list[str]:
    """Expand the ALIASES ('miniature': the 3 base-to-novel datasets, 'benchmarks': the 11, 'miniature-domains',
    'imagenet-variants'); reject unknown names."""
    out = []
    known = {k.lower(): k for k in (*ALIASES, *ALL_DATASETS)}
    squashed = {k.lower().replace("_", "").replace("-", ""): k for k in (*ALIASES, *ALL_DATASETS)}
    for n in names:
        name = known.get(str(n).lower()) or squashed.get(str(n).lower().replace("_", "").replace("-", ""))
        if name is None:  # names are matched ignoring case, '_' and '-' (dtd, oxford_pets); else a suggestion
            close = difflib.get_close_matches(str(n).lower(), list(known), n=1, cutoff=0.6)
            hint = f"did you mean {known[close[0]]!r}? " if close else ""
            raise BadInput(f"unknown dataset {n!r}; {hint}valid: {', '.join(ALIASES)}, {', '.join(ALL_DATASETS)}")
        out += ALIASES[name] if name in ALIASES else [name]
    return list(dict.fromkeys(out))


def _refusal(name: str, root):
    """The error of a dataset torchvision cannot fetch, as a download request gets it (no download happens)."""
    try:
        load_dataset(name, root, download=True)
    except MissingData as e:
        return e
    raise AssertionError(f"{name} loaded on the second try")  # it was missing a moment ago


def load_datasets(names, root=None, download: bool = False) -> dict[str, ClassificationDataset]:
    """Several datasets by name; every one that is missing is named in one error before any download starts."""
    found, missing = {}, {}
    for name in dict.fromkeys(names):
        try:
            found[name] = load_dataset(name, root, download=False)
        except MissingData as e:
            missing[name] = e
    if download and missing and root is not None:
        cannot = {n: e for n, e in missing.items() if not getattr(BENCHMARKS.get(n), "downloadable", False)}
        if not cannot:  # every missing one can be downloaded: now, and only now
            found.update({n: load_dataset(n, root, download=True) for n in missing})
        missing = {n: _refusal(n, root) for n in cannot}  # (their message says torchvision cannot fetch them)
    if len(missing) == 1:
        raise next(iter(missing.values()))
    if missing and root is None:
        raise MissingData(f"{', '.join(missing)} need a data root: pass root=DIR pointing at the "
                          "folder that holds the CoOp-style dataset folders, or run on the offline miniature (the "
                          "'miniature' profile).")
    if missing:
        raise MissingData(f"{len(missing)} datasets are not under data root {root}: {', '.join(missing)}; "
                          f"load_dataset(name, root) of one says where to get it, and `python -m dpt data` lists them all")
    return {n: found[n] for n in dict.fromkeys(names)}


def check_base_to_novel(dataset: ClassificationDataset, split: str, needs_train: bool) -> None:
    """Refuse (before any work) a dataset on which the base-to-novel protocol cannot give a number."""
    base, novel = subsample_classes(dataset, "base"), subsample_classes(dataset, "novel")
    if needs_train:
        if not base.train:
            raise BadInput(f"{dataset.name} has no training images in its base classes; check its train split")
        missing = sorted(set(range(base.num_classes)) - {it.label for it in base.train})
        if missing:
            names = ", ".join(base.classnames[i] for i in missing[:5])
            warnings.warn(f"{dataset.name}: {len(missing)} base class(es) have no training images ({names}); "
                          "they are still scored", stacklevel=2)
    for part in (base, novel):
        if not part.split(split):
            raise BadInput(f"{dataset.name} has no {part.subset} {split} images, so its {part.subset} accuracy "
                           f"would be meaningless; check its {split} split")


def check_transfer(dataset: ClassificationDataset, split: str | None) -> None:
    """Refuse a source without training images (split None) or a target without `split` images."""
    if split is None:
        if not dataset.train:
            raise BadInput(f"{dataset.name} has no training images, so it cannot be a source to train on; "
                           "choose a dataset with a train split (ImageNet, not one of its variants)")
        return
    if not dataset.split(split):
        raise BadInput(f"{dataset.name} has no {split} images to score; check its {split} split")
