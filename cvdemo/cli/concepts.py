"""``python -m cvdemo concepts``: the concept index of the five lecture decks and where the app shows each."""

from __future__ import annotations

import argparse

from cvdemo.cli._common import print_json


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "concepts", help="the lectures' concepts and the page and view that demonstrate each",
        description="Every concept of the course's five lecture decks, named as the lectures name it, with the "
                    "page and view of the app that shows it ({concept, lecture, page, section}; page and section "
                    "are null where no view exists yet).")
    parser.add_argument("query", nargs="*", help="only concepts matching these words (as the Home page search)")
    parser.add_argument("--json", action="store_true", help="print a JSON list of {concept, lecture, page, section}")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cvdemo import concepts

    found = concepts.search(" ".join(args.query)) if args.query else list(concepts.CONCEPTS)
    if args.json:
        print_json([concept.as_dict() for concept in found])
        return 0
    for concept in found:
        where = f"{concept.page} › {concept.section}  {concepts.link(concept.page, concept.section)}" if concept.page else "(no view yet)"
        print(f"{concept.concept}\n    {where}\n    lecture: {concept.lecture}")
    share = len(concepts.covered(found)) / len(found) if found else 0.0
    print(f"\n{len(found)} concepts, {share:.0%} with a view.")
    return 0
