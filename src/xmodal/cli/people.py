"""``xmodal library people``: the people the library has seen, named and corrected by you.

Ingest keeps every face it sees in video (a dlib descriptor per face and segment); the library
groups them into people after every ``add`` and ``remove``. These commands list the people,
name them, merge two that are one, split one that is two, and forget one (their descriptors and
face pictures are deleted).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from xmodal.cli.library import _db_option, _errors, _library_option, _open

app = typer.Typer(
    help="People the library has seen in video: list, name, merge, split, forget.",
    invoke_without_command=True,
)


def _day(ts: float | None) -> str:
    return "" if ts is None else datetime.fromtimestamp(ts).strftime("%Y-%m-%d")


def _summary_json(lib: Any, p: Any) -> dict[str, Any]:
    picture = lib.face_picture(p.picture)
    return {
        "id": p.id,
        "name": p.name,
        "faces": p.faces,
        "files": p.entries,
        "first_seen": p.first_seen,
        "last_seen": p.last_seen,
        "picture": None if picture is None else str(picture),
    }


@app.callback()
def people(
    ctx: typer.Context,
    library: Path | None = _library_option(),
    db: str | None = _db_option(),
    update: bool = typer.Option(
        False, "--update", help="Group every face into people again first (names are kept)."
    ),
    threshold: float | None = typer.Option(
        None,
        "--threshold",
        min=0.05,
        max=1.5,
        help="With --update: the most descriptor distance within one person (default 0.47, "
        "chosen on val by benchmarks/bench_people.py; lower splits more).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list."),
) -> None:
    """List the people seen in the library's videos, most seen first: id, name, faces (one
    per segment a person is seen in), files, first and last seen (the files' dates) and the
    path of their best face picture.

    Example: xmodal library people

    Example: xmodal library people name 3 "Ada Lovelace"
    """
    ctx.obj = {"library": library, "db": db}
    if ctx.invoked_subcommand is not None:
        return
    with _errors(), _open(library, db) as lib:
        rows = lib.regroup_people(threshold) if update or threshold else lib.people()
        if as_json:
            typer.echo(json.dumps([_summary_json(lib, p) for p in rows], indent=2))
            return
        if not rows:
            typer.echo("no people yet: faces are found in video added with faces on (the default)")
            return
        typer.echo(f"{'id':>4}  {'name':<24} {'faces':>5} {'files':>5}  {'first':<10}  "
                   f"{'last':<10}  picture")  # fmt: skip
        for p in rows:
            picture = lib.face_picture(p.picture)
            typer.echo(
                f"{p.id:>4}  {p.label[:24]:<24} {p.faces:>5} {p.entries:>5}  "
                f"{_day(p.first_seen):<10}  {_day(p.last_seen):<10}  {picture or ''}"
            )


def _lib(ctx: typer.Context, library: Path | None, db: str | None) -> Any:
    parent = ctx.obj or {}
    return _open(library or parent.get("library"), db or parent.get("db"))


@app.command("name")
def name(
    ctx: typer.Context,
    person: str = typer.Argument(..., help="The person's id (or current name)."),
    new_name: str = typer.Argument(..., metavar="NAME", help="What to call them."),
    library: Path | None = _library_option(),
    db: str | None = _db_option(),
) -> None:
    """Name a person; the name stays when the library regroups its faces.

    Example: xmodal library people name 3 "Ada Lovelace"
    """
    with _errors(), _lib(ctx, library, db) as lib:
        p = lib.name_person(person, new_name)
        typer.echo(f"person {p.id} is {p.name} ({len(p.faces)} faces)")


@app.command("merge")
def merge(
    ctx: typer.Context,
    person: str = typer.Argument(..., help="The person to keep (id or name)."),
    others: list[str] = typer.Argument(..., help="People who are the same person."),
    library: Path | None = _library_option(),
    db: str | None = _db_option(),
) -> None:
    """Make several people one: their faces join PERSON, who keeps id and name.

    Example: xmodal library people merge 3 7 12
    """
    with _errors(), _lib(ctx, library, db) as lib:
        p = lib.merge_people(person, others)
        typer.echo(f"{p.label} (person {p.id}) now has {len(p.faces)} faces")


@app.command("split")
def split(
    ctx: typer.Context,
    person: str = typer.Argument(..., help="The person to split (id or name)."),
    files: list[str] = typer.Argument(..., help="Files (paths or entry ids) to take away."),
    library: Path | None = _library_option(),
    db: str | None = _db_option(),
) -> None:
    """Take PERSON's faces in FILES away as a new person (when two people were taken for one).

    Example: xmodal library people split 3 ~/Videos/party.mp4
    """
    with _errors(), _lib(ctx, library, db) as lib:
        p = lib.split_person(person, files)
        typer.echo(f"new person {p.id} with {len(p.faces)} faces")


@app.command("forget")
def forget(
    ctx: typer.Context,
    person: str = typer.Argument(..., help="The person to forget (id or name)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
    library: Path | None = _library_option(),
    db: str | None = _db_option(),
) -> None:
    """Forget a person: delete their face descriptors and face pictures from the library
    (their files, transcripts and other faces stay).

    Example: xmodal library people forget 3 --yes
    """
    with _errors(), _lib(ctx, library, db) as lib:
        if not yes:
            typer.confirm(f"forget person {person} and delete their faces?", abort=True)
        p = lib.forget_person(person)
        typer.echo(f"forgot {p.label}: {len(p.faces)} faces deleted")
