"""``python -m actors``: the same program as the ``actors`` command."""

from actors._cli import main

if __name__ == "__main__":
    main(prog_name="actors")
