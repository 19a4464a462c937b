"""``python -m actors``: the same program as the ``actors`` command."""

from actors._cli import main
from actors._cli_exit import run_then_stop_actors

if __name__ == "__main__":
    run_then_stop_actors(lambda: main(prog_name="actors"))
