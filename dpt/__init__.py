"""dpt: dual-view prompt tuning for CLIP. The commands are `python -m dpt <command>` (dpt/experiments/cli.py)."""
from .scripts import stop_library_scripts

stop_library_scripts()  # `python -m dpt.pretrain` (the old command) and the like: one line, exit status 2
