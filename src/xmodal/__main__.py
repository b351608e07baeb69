"""``python -m xmodal`` runs the same CLI as the ``xmodal`` console script."""

from xmodal.cli import main

if __name__ == "__main__":
    main()
