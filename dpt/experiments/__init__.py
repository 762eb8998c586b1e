"""The experiment layer: protocols (base-to-novel, transfer and few-shot, ablation, tuning) and the machinery
that runs, stores, compares and reports them, and the command line. It imports the library (`dpt`); the
library never imports it."""
