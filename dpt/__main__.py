"""`python -m dpt <command>`: the command line lives in dpt/experiments/cli.py."""
from dpt.experiments.cli import main

if __name__ == "__main__":
    main()
